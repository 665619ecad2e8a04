"""eval/compare_answer_models.py: two models' sweep rows, each refusal refitted, "right" replayed
and the paired difference bootstrapped."""

from __future__ import annotations

import json
import random

import pytest

from eval import compare_answer_models


def _row(qid: str, kind: str, p: float, dense: float, hit: bool) -> dict:
    return {"id": qid, "kind": kind, "no_gold": kind != "answerable", "answers": ["x"],
            "candidates": [{"p": p, "score": dense, "dense": dense, "lexical": dense, "hit": hit,
                            "span": None, "span_conf": 0.0}]}


def _rows(separation: float, seed: int) -> list[dict]:
    """Answerable questions with a high probability and unanswerable ones lower, apart by ``separation``;
    the same ids and kinds for every seed, so two models' rows pair up."""
    rng = random.Random(seed)
    rows = []
    for i in range(200):
        for kind, base in (("answerable", 0.5 + separation), ("removed", 0.5 - separation),
                           ("swapped", 0.5 - separation)):
            p = min(max(base + rng.gauss(0, 0.2), 0.01), 0.99)
            rows.append(_row(f"q{i}", kind, p, 0.5 + rng.gauss(0, 0.05), hit=kind == "answerable"))
    return rows


def test_a_model_that_tells_answerable_from_unanswerable_better_is_right_more_often_beyond_the_interval():
    weak, strong = _rows(0.1, 1), _rows(0.3, 2)
    found = compare_answer_models.compare([weak, weak], [strong, strong], ["fit", "test"], n=1, blend=8.0,
                                          resamples=500)
    for name in ("fit", "test"):
        for view in ("right", "right_paragraph_kept"):
            result = found[name][view]
            assert result["questions"] == 400
            assert result["b"] > result["a"] + 5
            low, high = result["interval_95"]
            assert 0 < low <= result["difference"] <= high
    # the same rows on both sides: no difference, and an interval of nothing
    same = compare_answer_models.compare([weak], [weak], ["fit"], n=1, blend=8.0, resamples=200)
    assert same["fit"]["right"]["difference"] == 0.0 and same["fit"]["right"]["interval_95"] == [0.0, 0.0]


def test_the_refit_refuses_about_a_tenth_of_the_answerable_questions():
    rows = _rows(0.2, 3)
    calibration = compare_answer_models.fitted_calibration(rows, 1, 8.0)
    outcomes = compare_answer_models.outcomes(rows, calibration, 1)
    answerable = [ok for kind, ok in outcomes.values() if kind == "answerable"]
    assert 0.85 <= sum(answerable) / len(answerable) <= 0.92


def test_a_set_without_one_kind_reports_only_the_view_it_has(tmp_path, capsys):
    rows = [r for r in _rows(0.2, 4) if r["kind"] != "swapped"]
    paths = []
    for name in ("a", "b"):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(rows), encoding="utf-8")
    assert compare_answer_models.main(["--a", str(paths[0]), "--b", str(paths[1]), "--resamples", "50"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["a"]) == {"right"}


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_rows(0.2, 5)), encoding="utf-8")
    bad.write_text("{not json", encoding="utf-8")
    assert compare_answer_models.main(["--a", str(good), "--b", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: not sweep rows")
    with pytest.raises(SystemExit) as stop:
        compare_answer_models.main(["--a", str(good), str(good), "--b", str(good)])
    assert stop.value.code == 2
