"""Fit the abstention threshold from data.

The engine abstains when no candidate sentence's relevance reaches ``abstain_threshold``. So
each question contributes one number, the best relevance over its candidate sentences, and the
threshold is fitted on those numbers: it maximises the F1 of abstention (unanswerable questions
are the positives). F1 rather than accuracy because the question set holds more answerable than
unanswerable questions, and accuracy then rewards never abstaining and leaves a wide plateau of
equally accurate thresholds. Leave-one-out says how well the fit carries over to unseen questions.
"""

from __future__ import annotations

from typing import Sequence

CURVE_STEP = 0.01


def max_relevance(engine, question: str, mode: str) -> float:
    """The best relevance over the candidate sentences (what the abstention threshold is compared with)."""
    rows = engine.explain(question, mode=mode, answerer="heuristic")  # the threshold is the heuristic's
    return max((row["relevance"] for row in rows), default=0.0)


def scores_at(threshold: float, scores: Sequence[float], answerable: Sequence[bool]) -> dict[str, float]:
    """Accuracy and abstention precision, recall and F1 when abstaining below ``threshold``."""
    abstained = [s < threshold for s in scores]
    return _confusion(abstained, answerable)


def fit_threshold(scores: Sequence[float], answerable: Sequence[bool]) -> tuple[float, float]:
    """The threshold with the best abstention F1, and that F1.

    Candidates are the midpoints between neighbouring scores (and just outside both ends); among
    equally good candidates the one in the widest gap wins: the largest margin either side.
    """
    values = sorted(set(scores))
    if not values:
        raise ValueError("no scores to fit a threshold on")
    candidates = [(values[0] - 0.01, 0.0)]
    candidates += [((a + b) / 2, b - a) for a, b in zip(values, values[1:])]
    candidates.append((values[-1] + 0.01, 0.0))
    best = max(candidates, key=lambda c: (round(scores_at(c[0], scores, answerable)["f1"], 9), c[1]))
    return best[0], scores_at(best[0], scores, answerable)["f1"]


def leave_one_out(scores: Sequence[float], answerable: Sequence[bool]) -> dict[str, float]:
    """Each question judged by the threshold fitted on all the others; the pooled scores."""
    scores, answerable = list(scores), list(answerable)
    abstained = []
    for i in range(len(scores)):
        threshold, _ = fit_threshold(scores[:i] + scores[i + 1:], answerable[:i] + answerable[i + 1:])
        abstained.append(scores[i] < threshold)
    return _confusion(abstained, answerable)


def calibration(scores: Sequence[float], answerable: Sequence[bool], current: float) -> dict:
    """The fitted threshold, its in-sample and leave-one-out scores, and the curves over thresholds."""
    scores, answerable = list(scores), list(answerable)
    threshold, _ = fit_threshold(scores, answerable)
    grid = [round(i * CURVE_STEP, 2) for i in range(int(1 / CURVE_STEP) + 1)]
    return {
        "threshold": round(threshold, 4),
        "fitted": scores_at(threshold, scores, answerable),
        "loo": leave_one_out(scores, answerable),
        "current_threshold": current,
        "current": scores_at(current, scores, answerable),
        "answerable_scores": sorted(s for s, a in zip(scores, answerable) if a),
        "unanswerable_scores": sorted(s for s, a in zip(scores, answerable) if not a),
        "curve": [[t, scores_at(t, scores, answerable)] for t in grid],
    }


def _confusion(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    pairs = list(zip(abstained, answerable))
    right = sum(did != can for did, can in pairs)
    true_pos = sum(did and not can for did, can in pairs)
    precision = true_pos / max(1, sum(did for did, _ in pairs))
    recall = true_pos / max(1, sum(not can for _, can in pairs))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": right / len(pairs), "precision": precision, "recall": recall, "f1": f1}
