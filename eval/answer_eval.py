"""Validation figures of the answer model over held-out pairs (pure functions over scores).

Per question: sentence selection (does the best-scored sentence of the gold paragraph hold the
answer), the span's token F1 on that sentence, and refusal: the question asked with its
paragraph (best probability over all its candidates) against the same question with the gold
paragraph removed (best over the other paragraphs' sentences only) and against its perturbed
copies on the answer sentence: the swapped question, the negated one and the antonym one (where the
data has them).
"""

from __future__ import annotations

from collections import defaultdict

from rag.answer.model import PairScore

from .metrics import token_f1

FALSE_REFUSAL_TARGET = 0.10


def validation_metrics(pairs, scores: list[PairScore]) -> dict:
    groups: dict[str, list[tuple[object, PairScore]]] = defaultdict(list)
    for pair, score in zip(pairs, scores):
        groups[pair.qid].append((pair, score))
    selected, f1s, present, removed = [], [], [], []
    # per kind of perturbed copy: the gold sentence's probability for the question, and for its copy
    perturbed: dict[str, tuple[list[float], list[float]]] = {kind: ([], []) for kind in ("swap", "neg", "anto")}
    for rows in groups.values():
        gold = [(p, s) for p, s in rows if p.kind == "pos"]
        if not gold:
            continue
        gold_pair, gold_score = gold[0]
        paragraph = [(p, s) for p, s in rows if p.kind in ("pos", "para")]
        best_pair, best_score = max(paragraph, key=lambda r: r[1].probability)
        selected.append(best_pair.kind == "pos")
        answer = gold_pair.sentence[gold_pair.answer_start:gold_pair.answer_end]
        span = best_pair.sentence[best_score.span[0]:best_score.span[1]] if best_score.span else None
        f1s.append(token_f1(span, [answer]))
        present.append(max(s.probability for p, s in rows if p.kind in ("pos", "para", "hard")))
        others = [s.probability for p, s in rows if p.kind == "hard"]
        if others:
            removed.append(max(others))
        for p, s in rows:
            if p.kind in perturbed:
                perturbed[p.kind][0].append(gold_score.probability)
                perturbed[p.kind][1].append(s.probability)
    threshold = threshold_for_false_refusals(present, FALSE_REFUSAL_TARGET)
    return {
        "questions": len(selected),
        "selection_accuracy": _mean(selected),
        "span_f1": _mean(f1s),
        "auc_present_vs_removed": auc(present, removed),
        "auc_gold_vs_swapped": auc(*perturbed["swap"]),
        "auc_gold_vs_negated": auc(*perturbed["neg"]),
        "auc_gold_vs_antonym": auc(*perturbed["anto"]),
        "threshold_at_10pct_false_refusals": threshold,
        "refused_removed_at_threshold": _mean([r < threshold for r in removed]),
        "refused_swapped_at_threshold": _mean([r < threshold for r in perturbed["swap"][1]]),
        "refused_negated_at_threshold": _mean([r < threshold for r in perturbed["neg"][1]]),
        "refused_antonym_at_threshold": _mean([r < threshold for r in perturbed["anto"][1]]),
        "false_refusals_at_threshold": _mean([r < threshold for r in present]),
    }


def threshold_for_false_refusals(answerable: list[float], rate: float) -> float:
    """The highest threshold that refuses at most ``rate`` of the answerable scores."""
    ordered = sorted(answerable)
    if not ordered:
        return 0.0
    k = int(rate * len(ordered))
    return ordered[k] if k < len(ordered) else ordered[-1]


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """Probability that a positive scores above a negative (ties count half)."""
    if not positives or not negatives:
        return None
    ordered = sorted([(v, 1) for v in positives] + [(v, 0) for v in negatives])
    rank_sum, i = 0.0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # mean 1-based rank of the tie group
        rank_sum += mid * sum(label for _, label in ordered[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
