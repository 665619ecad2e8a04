"""The offline comparison of fusions (eval/fusion_sweep.py)."""

import numpy as np
import pytest

from eval.fusion_sweep import main, reciprocal_rank_fusion, score, standardised_fusion


def test_reciprocal_rank_ties_go_to_the_more_decisive_win():
    dense = (np.array([7, 9]), np.array([0.61, 0.60]))  # 7 wins narrowly by meaning
    lexical = (np.array([9, 7]), np.array([12.0, 6.0]))  # 9 wins clearly by words
    assert reciprocal_rank_fusion(dense, lexical) == [9, 7]


def test_standardised_fusion_lets_a_clear_win_by_words_beat_a_narrow_one_by_meaning():
    dense = (np.array([7, 9, 4, 5]), np.array([0.61, 0.60, 0.40, 0.38]))
    lexical = (np.array([9, 7, 4]), np.array([12.0, 6.0, 5.0]))  # 5 shares no word: BM25 0
    assert standardised_fusion(dense, lexical, 0.5, depth=200) == [9, 7, 4, 5]
    assert standardised_fusion(dense, lexical, 1.0, depth=200) == [7, 9, 4, 5]  # meaning alone


def test_score_ranks_documents_once_each_as_rag_eval_does():
    suite = {"keys": ["a", "a", "b", "c"],  # chunks 0 and 1 belong to document a
             "rows": [({"b": 1.0}, (np.array([0, 1, 2, 3]), np.array([0.80, 0.79, 0.78, 0.10])),
                       (np.array([2]), np.array([3.0]))),  # b is a close third by meaning, alone by words
                      ({"a": 1.0}, (np.array([1, 3]), np.array([0.9, 0.1])),
                       (np.array([], dtype=np.int64), np.array([])))]}  # no word in common
    by_meaning = score(suite, lambda d, l: d[0].tolist())
    assert by_meaning["recall@1"] == 0.5 and by_meaning["mrr"] == 0.75 and by_meaning["questions"] == 2
    by_words = score(suite, lambda d, l: l[0].tolist())
    assert by_words["recall@1"] == 0.5 and by_words["mrr"] == 0.5  # nothing found for the second
    fused = score(suite, lambda d, l: standardised_fusion(d, l, 0.5, depth=200))
    assert fused["recall@1"] == 1.0  # and the second, with no BM25 match, is ranked by meaning alone


def test_it_asks_for_a_question_set():
    with pytest.raises(SystemExit) as stopped:
        main([])
    assert stopped.value.code == 2
