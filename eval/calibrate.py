"""Fit the abstention threshold from data.

The engine abstains when no candidate sentence's relevance reaches ``abstain_threshold``. So
each question contributes one number, the best relevance over its candidate sentences; the
threshold that best separates answerable from unanswerable questions on those numbers is the
calibrated one. Leave-one-out accuracy says how well it carries over to unseen questions.
"""

from __future__ import annotations

from typing import Sequence

CURVE_STEP = 0.01


def max_relevance(engine, question: str, mode: str) -> float:
    """The best relevance over the candidate sentences (what the abstention threshold is compared with)."""
    rows = engine.explain(question, mode=mode)
    return max((row["relevance"] for row in rows), default=0.0)


def accuracy_at(threshold: float, scores: Sequence[float], answerable: Sequence[bool]) -> float:
    """Share of questions handled right when abstaining below ``threshold``."""
    return sum((s >= threshold) == can for s, can in zip(scores, answerable)) / len(scores)


def fit_threshold(scores: Sequence[float], answerable: Sequence[bool]) -> tuple[float, float]:
    """The threshold with the best accuracy, and that accuracy.

    Candidates are the midpoints between neighbouring scores (and just outside both ends); among
    equally accurate candidates the one in the widest gap wins, the largest margin either side.
    """
    values = sorted(set(scores))
    if not values:
        raise ValueError("no scores to fit a threshold on")
    candidates = [(values[0] - 0.01, 0.0)]
    candidates += [((a + b) / 2, b - a) for a, b in zip(values, values[1:])]
    candidates.append((values[-1] + 0.01, 0.0))
    best = max(candidates, key=lambda c: (round(accuracy_at(c[0], scores, answerable), 9), c[1]))
    return best[0], accuracy_at(best[0], scores, answerable)


def leave_one_out(scores: Sequence[float], answerable: Sequence[bool]) -> float:
    """Accuracy on each question of the threshold fitted on all the others."""
    right = 0
    for i in range(len(scores)):
        rest_scores = [s for j, s in enumerate(scores) if j != i]
        rest_labels = [a for j, a in enumerate(answerable) if j != i]
        threshold, _ = fit_threshold(rest_scores, rest_labels)
        right += (scores[i] >= threshold) == answerable[i]
    return right / len(scores)


def calibration(scores: Sequence[float], answerable: Sequence[bool], current: float) -> dict:
    """The fitted threshold, its in-sample and leave-one-out accuracy, and the accuracy curve."""
    threshold, accuracy = fit_threshold(scores, answerable)
    grid = [round(i * CURVE_STEP, 2) for i in range(int(1 / CURVE_STEP) + 1)]
    return {
        "threshold": round(threshold, 4),
        "accuracy": accuracy,
        "loo_accuracy": leave_one_out(scores, answerable),
        "current_threshold": current,
        "current_accuracy": accuracy_at(current, scores, answerable),
        "answerable_scores": sorted(s for s, a in zip(scores, answerable) if a),
        "unanswerable_scores": sorted(s for s, a in zip(scores, answerable) if not a),
        "curve": [[t, accuracy_at(t, scores, answerable)] for t in grid],
    }
