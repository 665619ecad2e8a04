"""The answer chosen with the model (rag/answer/verdict.py): refusal by confidence, the sentences cited."""

from __future__ import annotations

import numpy as np


def test_refusal_weighs_the_model_and_the_heuristic_relevance():
    from rag.answer.model import PairScore
    from rag.answer.select import ScoredSentence
    from rag.answer.verdict import ModelVerdict, select_by_model

    def verdict(probability: float, relevance: float) -> ModelVerdict:
        candidate = ScoredSentence(0, relevance, relevance, relevance, 0.0, 1.0, False)
        return ModelVerdict([candidate], [PairScore(probability, (0, 3), 0.9, 1.0, 1.0)])

    sure, unsure = verdict(0.95, 0.8), verdict(0.05, 0.2)
    assert 0 <= unsure.confidence < sure.confidence <= 1
    assert verdict(0.95, 0.5).confidence > verdict(0.05, 0.5).confidence  # the model's say counts
    assert verdict(0.5, 0.8).confidence > verdict(0.5, 0.2).confidence  # and so does the relevance
    vectors = np.eye(1, dtype=np.float32)
    threshold = (sure.confidence + unsure.confidence) / 2
    assert select_by_model(sure, sure.candidates, vectors, 3, threshold)
    assert not select_by_model(unsure, unsure.candidates, vectors, 3, threshold)
    assert ModelVerdict([], []).confidence == 0.0


def test_sentences_the_model_did_not_read_follow_by_the_heuristic_rule():
    from rag.answer.model import PairScore
    from rag.answer.select import RELATIVE_CUTOFF, ScoredSentence
    from rag.answer.verdict import ModelVerdict, select_by_model

    def scored(index: int, score: float) -> ScoredSentence:
        return ScoredSentence(index, score, score, score, 0.0, 1.0, False)

    first_stage = [scored(0, 0.80), scored(1, 0.79), scored(2, 0.78), scored(3, 0.77),
                   scored(4, RELATIVE_CUTOFF * 0.80 - 0.01)]
    # the model read the first two, and found only the second one answers
    verdict = ModelVerdict([first_stage[1], first_stage[0]], [PairScore(0.9, None, 0.0, 0.0, 0.0),
                                                               PairScore(0.1, None, 0.0, 0.0, 0.0)])
    vectors = np.eye(5, dtype=np.float32)
    chosen = [c.index for c in select_by_model(verdict, first_stage, vectors, 3, 0.0)]
    assert chosen == [1, 2, 3]  # not 0, which the model read and rejected; 4 scores too low
    assert [c.index for c in select_by_model(verdict, first_stage, vectors, 2, 0.0)] == [1, 2]
    vectors[2] = vectors[1]  # sentence 2 says what sentence 1 says
    assert [c.index for c in select_by_model(verdict, first_stage, vectors, 3, 0.0)] == [1, 3]
