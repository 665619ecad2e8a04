"""The evaluation metrics and the threshold fit, against examples worked out by hand."""

import math

import pytest

from eval import calibrate
from eval.metrics import (
    abstention_accuracy,
    abstention_scores,
    citation_is_valid,
    contains_answer,
    dedupe,
    exact_match,
    mean,
    ndcg_at_k,
    normalize_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    right_share,
    token_f1,
)


def test_recall_at_k_counts_the_share_of_relevant_documents_found():
    ranked = ["a", "b", "c", "d"]
    assert recall_at_k(ranked, {"c"}, 1) == 0.0
    assert recall_at_k(ranked, {"c"}, 3) == 1.0
    assert recall_at_k(ranked, {"a", "d"}, 2) == 0.5
    assert recall_at_k(ranked, {"a", "z"}, 10) == 0.5
    assert recall_at_k(ranked, set(), 5) is None  # undefined, not zero


def test_reciprocal_rank_of_the_first_relevant_document():
    assert reciprocal_rank(["a", "b", "c"], {"b", "c"}) == 0.5
    assert reciprocal_rank(["a", "b", "c"], {"a"}) == 1.0
    assert reciprocal_rank(["a", "b"], {"z"}) == 0.0
    assert reciprocal_rank(["a"], set()) is None


def test_ndcg_by_hand():
    # Relevant b (rank 2) and d (rank 4): DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3).
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c", "d"], {"b": 1, "d": 1}, 10) == pytest.approx(expected)
    assert ndcg_at_k(["b", "d"], {"b": 1, "d": 1}) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "b"], {"b": 1}, 1) == 0.0  # cut off before the relevant one
    # Graded: gains are linear, the ideal order puts grade 2 first.
    assert ndcg_at_k(["x", "y"], {"x": 1, "y": 2}) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["a"], {}) is None


def test_dedupe_keeps_first_seen_order():
    assert dedupe(["b1", "b2", "b1", "b3", "b2"]) == ["b1", "b2", "b3"]


def test_squad_normalisation():
    assert normalize_answer("The  Ministry of Science, and Technology!") == "ministry of science and technology"
    assert normalize_answer("July\u00a016, 2021") == "july 16 2021"  # non-breaking space is a space
    assert normalize_answer("an apple a day") == "apple day"


def test_exact_match_takes_the_best_gold():
    assert exact_match("the Interlaken", ["Interlaken, Switzerland", "Interlaken"]) == 1.0
    assert exact_match("Interlaken Switzerland", ["Interlaken"]) == 0.0
    assert exact_match(None, ["Interlaken"]) == 0.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_by_hand():
    # prediction "vice minister zhang yudong" (4 tokens), gold "zhang yudong" (2): P = 2/4, R = 1, F1 = 2/3.
    assert token_f1("Vice Minister Zhang Yudong", ["Zhang Yudong"]) == pytest.approx(2 / 3)
    # Best over golds: "60" matches the second gold exactly.
    assert token_f1("60", ["more than 60", "60"]) == 1.0
    assert token_f1("More than 60 people", ["60"]) == pytest.approx(2 * 0.25 * 1 / 1.25)
    assert token_f1("", ["60"]) == 0.0
    assert token_f1(None, ["60"]) == 0.0


def test_contains_answer_matches_whole_tokens_in_order():
    sentence = "More than 60\u00a0people attended, among them members of the committee."
    assert contains_answer(sentence, ["60"])
    assert contains_answer(sentence, ["members of committee"])  # articles and punctuation dropped
    assert not contains_answer(sentence, ["6"])  # not part of a token
    assert not contains_answer(sentence, ["people more"])
    assert not contains_answer(None, ["60"])
    assert contains_answer("the market had 2,162 key emitters", ["2,162"])


def test_contains_answer_splits_running_text_on_punctuation():
    """SQuAD-13 answers the engine cited and the old, SQuAD-normalised test missed."""
    assert contains_answer("education in Australia follows the three-tier model", ["three"])
    assert contains_answer("first sequenced in 1986\u2014when two Japanese research teams", ["1986"])
    assert contains_answer("forgiveness is God's alone", ["God"])
    assert contains_answer("a two-phased system", ["two-phased system"])
    assert contains_answer("Tesla, you don't understand our American humor.", ["American humor."])
    assert not contains_answer("growth of 3.5 per cent", ["3"])  # a number is one token
    assert contains_answer("growth of 3.5 per cent", ["3.5"])
    assert not contains_answer("in 2019.", ["20"])
    assert not contains_answer("the three-tier model", ["tier three"])


def test_abstention_scores_by_hand():
    abstained = [True, True, False, False, True, False]
    answerable = [False, True, True, True, False, False]
    scores = abstention_scores(abstained, answerable)
    assert scores["abstention_precision"] == pytest.approx(2 / 3)  # 3 abstentions, 2 on unanswerable
    assert scores["abstention_recall"] == pytest.approx(2 / 3)  # 3 unanswerable, 2 abstained
    assert scores["false_abstention_rate"] == pytest.approx(1 / 3)  # 3 answerable, 1 abstained
    assert abstention_accuracy(abstained, answerable) == pytest.approx(4 / 6)
    none = abstention_scores([False, False], [True, True])
    assert none["abstention_precision"] is None and none["abstention_recall"] is None
    assert none["false_abstention_rate"] == 0.0


def test_right_counts_gold_first_answers_and_refusals_of_unanswerable_questions():
    hit1 = [True, True, False, None, None, True]
    abstained = [False, True, False, True, False, False]
    answerable = [True, True, True, False, False, True]
    # right: the first (answered, gold first), the fourth (unanswerable, refused), the last;
    # wrong: a refused answerable one, a miss, an unanswerable one answered
    assert right_share(hit1, abstained, answerable) == pytest.approx(3 / 6)
    assert right_share([], [], []) is None


def test_citation_validity_slices_the_source():
    text = "Alpha. Beta gamma."
    assert citation_is_valid(text, 7, 18, "Beta gamma.")
    assert not citation_is_valid(text, 6, 18, "Beta gamma.")
    assert not citation_is_valid(text, 7, 99, "Beta gamma.")


def test_percentile_interpolates_like_numpy():
    values = [10, 20, 30, 40]
    assert percentile(values, 50) == 25
    assert percentile(values, 95) == pytest.approx(38.5)  # position 2.85 between 30 and 40
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None
    assert mean([1, None, 3]) == 2 and mean([None]) is None


def test_threshold_fit_maximises_abstention_f1_in_the_widest_gap():
    scores = [0.1, 0.2, 0.5, 0.6, 0.9]
    answerable = [False, False, True, True, True]
    threshold, f1 = calibrate.fit_threshold(scores, answerable)
    assert threshold == pytest.approx(0.35) and f1 == 1.0
    # Below 0.2 catches one of the two unanswerable questions (F1 2/3); below 0.6 catches both at the
    # cost of refusing the answerable 0.3 (precision 2/3, recall 1, F1 0.8).
    threshold, f1 = calibrate.fit_threshold([0.1, 0.3, 0.4, 0.8], [False, True, False, True])
    assert threshold == pytest.approx(0.6) and f1 == pytest.approx(0.8)
    # Ties go to the widest gap: any threshold between 0.2 and 0.7 is perfect; 0.45 is the middle.
    threshold, _ = calibrate.fit_threshold([0.1, 0.2, 0.7, 0.8], [False, False, True, True])
    assert threshold == pytest.approx(0.45)


def test_scores_at_a_threshold_by_hand():
    # Abstain below 0.5: 0.1 (unanswerable, right), 0.3 (answerable, wrong); answer 0.6 (unanswerable, wrong).
    s = calibrate.scores_at(0.5, [0.1, 0.3, 0.6, 0.9], [False, True, False, True])
    assert s == {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_leave_one_out_is_honest_about_a_lone_outlier():
    scores = [0.1, 0.2, 0.3, 0.6, 0.7, 0.8]
    answerable = [False, False, False, True, True, True]
    assert calibrate.leave_one_out(scores, answerable)["accuracy"] == 1.0
    # An answerable question below every unanswerable one: no threshold fitted without it gets it right.
    loo = calibrate.leave_one_out(scores + [0.05], answerable + [True])
    assert loo["accuracy"] == pytest.approx(6 / 7) and loo["recall"] == 1.0 and loo["precision"] == 0.75
    result = calibrate.calibration(scores, answerable, current=0.42)
    assert result["current"]["f1"] == 1.0 and result["curve"][0] == [0.0, calibrate.scores_at(0.0, scores, answerable)]
