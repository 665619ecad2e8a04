"""How a model's outputs become a refusal (rag/answer/calibration.py): the features it names, its
round trip through a model file's metadata."""

from __future__ import annotations

import math

import pytest


def test_a_calibration_weighs_the_features_it_names_and_refuses_one_it_does_not_know():
    from rag.answer.calibration import Calibration, logit
    from rag.answer.select import ScoredSentence

    sentence = ScoredSentence(index=0, score=0.9, relevance=0.8, dense=0.3, lexical=0.9, passage=1.0, type_fit=False)
    meaning = Calibration(8.0, (0.5, 4.0, 1.0), -2.0, 0.5, ("best_logit", "dense", "lexical"))
    z = -2.0 + 0.5 * logit(0.7) + 4.0 * 0.3 + 1.0 * 0.9
    assert meaning.confidence([0.2, 0.7], sentence) == pytest.approx(1 / (1 + math.exp(-z)))
    # a sweep row's candidate (a dict) reads the same as the engine's ScoredSentence
    as_row = {"relevance": 0.8, "dense": 0.3, "lexical": 0.9, "passage": 1.0}
    assert meaning.confidence([0.2, 0.7], as_row) == meaning.confidence([0.2, 0.7], sentence)
    assert Calibration.from_metadata(meaning.metadata()) == meaning
    with pytest.raises(ValueError, match="one weight per feature"):
        Calibration(8.0, (0.5, 4.0), -2.0, 0.5, ("best_logit", "cosine"))
    with pytest.raises(ValueError, match="one weight per feature"):
        Calibration(8.0, (0.5,), -2.0, 0.5, ("best_logit", "dense"))
