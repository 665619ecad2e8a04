"""The answer model's settings fitted offline from sweep rows (eval/answer_fits.py): the learned refusal,
the threshold the engine stores, the coverage report."""

from __future__ import annotations

import random

from eval import answer_fits


def _rows(kind: str, n: int, p: float, relevance: float, rng: random.Random) -> list[dict]:
    return [{"id": f"{kind}{i}", "answers": [], "no_gold": kind != "answerable", "kind": kind,
             "candidates": [{"p": min(max(p + rng.gauss(0, 0.15), 0.01), 0.99),
                             "relevance": relevance + rng.gauss(0, 0.08), "score": relevance, "hit": False,
                             "span": None, "span_conf": 0.0}]} for i in range(n)]


def test_a_refusal_fitted_against_swapped_questions_leans_on_the_model():
    """Removed-gold questions find little that matches; swapped ones find their topic's sentence
    (high relevance) that the model rejects. Fitted against both, the refusal leans on the model."""
    rng = random.Random(0)
    rows = (_rows("answerable", 300, 0.75, 0.7, rng) + _rows("removed", 150, 0.15, 0.45, rng)
            + _rows("swapped", 150, 0.15, 0.7, rng))
    old = ("best_logit", "relevance")  # the best logit and the relevance, as fitted until 2026-12-02
    removed_only = answer_fits.abstention_report(rows, rows, 2, 8.0, kinds=("removed",), feature_names=old)
    both = answer_fits.abstention_report(rows, rows, 2, 8.0, kinds=("removed", "swapped"), feature_names=old)
    # fitted without them, the swapped questions' refusal is still reported at the same threshold
    assert removed_only["fit learned"]["refused_swapped_at_10pct"] < both["fit learned"]["refused_swapped_at_10pct"]
    assert both["fit learned"]["refused_swapped_at_10pct"] > 0.8
    assert both["fit learned"]["refused_removed_at_10pct"] > 0.8
    # the weight of the model's logit against the relevance grows once swapped questions are seen
    ratio = [r["weights"][0] / r["weights"][1] for r in (removed_only, both)]
    assert ratio[1] > ratio[0]
    # rows saved before kinds existed read as answerable or removed
    old = [{k: v for k, v in r.items() if k != "kind"} for r in rows if r["kind"] != "swapped"]
    assert {answer_fits.kind_of(r) for r in old} == {"answerable", "removed"}


def test_the_coverage_report_gives_the_answer_sentences_median_probability_per_quarter():
    """--by-coverage: per quarter of the question's rare words that the first candidate holding a
    gold answer says, how many answerable questions and that candidate's median probability;
    questions without such a candidate and unanswerable rows are left out."""
    def row(kind, *candidates):
        return {"kind": kind, "no_gold": kind != "answerable",
                "candidates": [{"hit": hit, "lexical": lexical, "p": p} for hit, lexical, p in candidates]}

    rows = [row("answerable", (False, 0.9, 0.8), (True, 0.1, 0.2)),   # the first holding the answer counts
            row("answerable", (True, 0.2, 0.4)),
            row("answerable", (True, 0.8, 0.9), (True, 0.1, 0.1)),
            row("answerable", (True, 0.75, 0.7)),                      # a bucket's lower edge belongs to it
            row("answerable", (False, 0.5, 0.9)),                      # no candidate holds the answer
            row("removed", (True, 0.1, 0.99))]
    assert answer_fits.coverage_report(rows) == {
        "coverage 0-0.25": {"questions": 2, "median_probability": 0.3},
        "coverage 0.25-0.5": {"questions": 0, "median_probability": None},
        "coverage 0.5-0.75": {"questions": 0, "median_probability": None},
        "coverage 0.75-1": {"questions": 2, "median_probability": 0.8}}


def test_the_stored_threshold_refuses_what_the_fit_allows_through_the_engines_own_confidence():
    """The written calibration, applied the way the engine applies it (rounded weights, then
    ``Calibration.confidence`` below ``threshold``), refuses exactly 10% of the fit's answerable
    questions; a threshold at a question's own score, rounded up, refused one more."""
    from rag.answer.calibration import Calibration

    rng = random.Random(0)  # a draw where the old rule (the score at the quantile, rounded) refused 49
    rows = _rows("answerable", 487, 0.7, 0.65, rng) + _rows("removed", 200, 0.2, 0.45, rng)
    fitted = answer_fits.abstention_report(rows, rows, 2, 8.0, kinds=("removed",),
                                           feature_names=("best_logit", "relevance"))
    calibration = Calibration.from_metadata(fitted["calibration"])
    confidences = [calibration.confidence([c["p"] for c in r["candidates"]], r["candidates"][0])
                   for r in rows if r["kind"] == "answerable"]
    assert sum(c < calibration.threshold for c in confidences) == int(0.10 * 487)


def test_the_engine_threshold_lies_between_the_last_refused_and_the_first_kept_confidence():
    scores = [0.1, 0.2, 0.3, 0.4, 0.480568, 0.48057, 0.6, 0.7, 0.8, 0.9]
    t = answer_fits.engine_threshold(scores, 0.4)  # refuses four
    assert 0.4 < t <= 0.480568 and sum(s < t for s in scores) == 4
    t = answer_fits.engine_threshold(scores, 0.5)  # the two closest scores still fall either side
    assert 0.480568 < t <= 0.48057 and sum(s < t for s in scores) == 5
    assert answer_fits.engine_threshold(scores, 0.0) == 0.1 and answer_fits.engine_threshold([], 0.1) == 0.0


def test_a_stored_rate_puts_the_threshold_at_that_share_of_the_fits_answerable_questions():
    """``stored_rate`` moves only the threshold: the weights are the 10% fit's, and the engine's
    confidence refuses the asked share (version 21 is stored at version 8's 11.4%)."""
    from rag.answer.calibration import Calibration

    rng = random.Random(0)
    rows = _rows("answerable", 500, 0.7, 0.65, rng) + _rows("removed", 200, 0.2, 0.45, rng)
    names = ("best_logit", "relevance")
    default = answer_fits.abstention_report(rows, rows, 2, 8.0, kinds=("removed",), feature_names=names)
    moved = answer_fits.abstention_report(rows, rows, 2, 8.0, kinds=("removed",), feature_names=names,
                                          stored_rate=0.114)
    assert moved["weights"] == default["weights"] and moved["bias"] == default["bias"]
    calibration = Calibration.from_metadata(moved["calibration"])
    confidences = [calibration.confidence([c["p"] for c in r["candidates"]], r["candidates"][0])
                   for r in rows if r["kind"] == "answerable"]
    assert sum(c < calibration.threshold for c in confidences) == 57
    assert calibration.threshold > Calibration.from_metadata(default["calibration"]).threshold


def test_the_threshold_curve_trades_false_refusals_for_refused_unanswerable_questions():
    """``threshold_curve``: each point refuses its share of the fit's answerable questions, a higher
    threshold refuses more of both kinds and answers fewer, and the stored threshold's own point
    reports the share it refuses."""
    from rag.answer.calibration import Calibration

    rng = random.Random(1)
    rows = _rows("answerable", 400, 0.7, 0.65, rng) + _rows("removed", 200, 0.2, 0.45, rng)
    for r in rows[:300]:
        r["candidates"][0]["hit"] = True  # three quarters of the answerable questions find their answer
    calibration = Calibration(8.0, (0.6, 5.0), -3.5, 0.4, features=("best_logit", "relevance"))
    curve = answer_fits.threshold_curve(rows, rows, calibration, 2, shares=(0.02, 0.1), thresholds=(0.4,))
    assert [p["fit"]["false_refusals"] for p in curve[:2]] == [0.02, 0.1]
    low, high, stored = curve
    assert low["threshold"] < high["threshold"]
    assert low["fit"]["refused_removed"] <= high["fit"]["refused_removed"]
    assert low["fit"]["hit"] >= high["fit"]["hit"] and high["fit"]["hit"] <= 0.75
    confidences = [calibration.confidence([c["p"] for c in r["candidates"]], r["candidates"][0])
                   for r in rows if r["kind"] == "answerable"]
    assert stored["threshold"] == 0.4
    assert stored["fit_false_refusals"] == round(sum(c < 0.4 for c in confidences) / 400, 4)
    assert stored["test"] == stored["fit"]  # the same rows on both sides
