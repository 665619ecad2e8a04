"""The answer model's figures (eval/answer_eval.py)."""

from __future__ import annotations

from eval.answer_eval import auc, threshold_for_false_refusals


def test_refusal_figures():
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.5], [0.5]) == 0.5
    scores = [0.1 * i for i in range(10)]
    threshold = threshold_for_false_refusals(scores, 0.1)
    assert sum(s < threshold for s in scores) <= 1
