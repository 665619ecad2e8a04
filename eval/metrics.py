"""Evaluation metrics as pure functions: retrieval, answers, spans, abstention, latency.

Every function takes plain values (ranked ids, strings, booleans, numbers) and returns a number,
or ``None`` when the metric is undefined for its input (no relevant document, no abstention).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Iterable, Sequence

# --- retrieval ------------------------------------------------------------------------------


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float | None:
    """Share of the relevant documents found in the first ``k`` of ``ranked``."""
    relevant = set(relevant)
    if not relevant:
        return None
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str]) -> float | None:
    """1 / rank of the first relevant document, 0 when none was retrieved."""
    relevant = set(relevant)
    if not relevant:
        return None
    for rank, doc in enumerate(ranked, start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevance: dict[str, float], k: int = 10) -> float | None:
    """Normalised discounted cumulative gain with linear gains (as trec_eval and BEIR compute it)."""
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return None
    dcg = sum(relevance.get(doc, 0.0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg


def dedupe(ids: Iterable[str]) -> list[str]:
    """The ids in first-seen order, each once (passages of one bulletin count as one document)."""
    return list(dict.fromkeys(ids))


# --- answers (SQuAD normalisation) ---------------------------------------------------------

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    if not golds:
        return 0.0
    pred = normalize_answer(prediction or "")
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str | None, golds: Sequence[str]) -> float:
    """Best token-overlap F1 of the prediction against any gold answer."""
    pred_tokens = normalize_answer(prediction or "").split()
    best = 0.0
    for gold in golds:
        gold_tokens = normalize_answer(gold).split()
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if not common:
            continue
        precision, recall = common / len(pred_tokens), common / len(gold_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(text: str | None, golds: Sequence[str]) -> bool:
    """Whether ``text`` says a gold answer: its ``answer_tokens`` appear as one run in the text's.

    Why not SQuAD's ``normalize_answer`` here: it deletes punctuation without splitting on it, which
    suits comparing two answer strings but glues words of running text together, so "the
    three-tier model" did not contain "three" and "in 1986—when" did not contain "1986". Open-domain
    QA's answer recall (DPR's ``has_answer``) splits on punctuation instead, as this does."""
    haystack = answer_tokens(text or "")
    for gold in golds:
        needle = answer_tokens(gold)
        if needle and any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1)):
            return True
    return False


# A number keeps its inner separators ("2,162", "3.5": "3" is not in "3.5"); any other run of
# letters and digits is a word; everything else (punctuation, dashes, apostrophes) only separates.
_ANSWER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?![^\W_])|[^\W_]+")


def answer_tokens(text: str) -> list[str]:
    """``text`` as lower-case words and numbers without articles, for ``contains_answer``."""
    return [t for t in _ANSWER_TOKEN.findall(text.lower()) if t not in ("a", "an", "the")]


def word_count(text: str) -> int:
    return len(text.split())


# --- abstention -----------------------------------------------------------------------------


def abstention_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float | None]:
    """Precision and recall of abstaining on unanswerable questions; false abstentions on answerable ones."""
    pairs = list(zip(abstained, answerable))
    abstentions = [can for did, can in pairs if did]
    unanswerable = [did for did, can in pairs if not can]
    answerable_ones = [did for did, can in pairs if can]
    return {
        "abstention_precision": _share(not can for can in abstentions),
        "abstention_recall": _share(unanswerable),
        "false_abstention_rate": _share(answerable_ones),
    }


def right_share(hit1: Sequence[bool | None], abstained: Sequence[bool], answerable: Sequence[bool]) -> float | None:
    """Share of questions handled right: an answerable one answered with a gold answer in its first
    cited sentence, an unanswerable one refused. One figure for what the service promises (answer
    when the bulletins do, say so when they do not), by which the answer model's versions and
    settings are shipped or not (README, "The trained answer model")."""
    return _share(bool(did) if not can else bool(hit) and not did
                  for hit, did, can in zip(hit1, abstained, answerable))


def abstention_accuracy(abstained: Sequence[bool], answerable: Sequence[bool]) -> float | None:
    """Share of questions where the engine abstained exactly when the question is unanswerable."""
    return _share(did != can for did, can in zip(abstained, answerable))


# --- citations and summaries ----------------------------------------------------------------


def citation_is_valid(source_text: str, char_start: int, char_end: int, quote: str) -> bool:
    """A citation is valid when its character range slices its quote out of the source text."""
    return 0 <= char_start <= char_end <= len(source_text) and source_text[char_start:char_end] == quote


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values, ``None`` when there is none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _share(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else None
