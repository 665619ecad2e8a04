"""eval/average_answer_models.py: two checkpoints of one lineage averaged weight by weight, and
eval/export_answer_model.py --val-pairs 0, which writes such a mean as a file to measure in the
engine."""

from __future__ import annotations

import json

import pytest

from eval import answer_data, average_answer_models, export_answer_model, train_answer_model
from rag.answer.model import AnswerModel

from helpers import ANSWER_SENTENCE, QUESTION
from helpers import TINY_SQUAD as TINY


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two 1-layer runs trained a few steps from the base encoder with different seeds, and a 2-layer one."""
    tmp = tmp_path_factory.mktemp("runs")
    squad, data = tmp / "tiny.json", tmp / "data"
    squad.write_text(json.dumps(TINY), encoding="utf-8")
    assert answer_data.main(["--squad", str(squad), "--out", str(data), "--seed", "3", "--held-out", "0.34"]) == 0
    common = ["--data", str(data), "--threads", "1", "--batch-size", "4", "--steps", "3"]
    for name, extra in (("a", ["--seed", "1", "--layers", "1"]), ("b", ["--seed", "2", "--layers", "1"]),
                        ("deep", ["--seed", "1", "--layers", "2"])):
        assert train_answer_model.main([*common, *extra, "--out", str(tmp / name)]) == 0
    return tmp, data


def test_the_mean_is_the_weighted_sum_of_the_two_and_exports_to_a_working_model(runs, tmp_path):
    import torch

    tmp, data = runs
    out = tmp_path / "mean"
    assert average_answer_models.main(["--a", str(tmp / "a"), "--b", str(tmp / "b"), "--weight", "0.25",
                                       "--out", str(out)]) == 0
    a, b, mean = (torch.load(folder / "model.pt", weights_only=False) for folder in (tmp / "a", tmp / "b", out))
    moved = 0
    for name, tensor in mean["model"].items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor, 0.25 * a["model"][name] + 0.75 * b["model"][name], atol=1e-6), name
            moved += not torch.equal(a["model"][name], b["model"][name])
        else:
            assert torch.equal(tensor, a["model"][name]), name
    assert moved > 0  # the two seeds trained apart, so the mean is neither of them
    assert mean["config"]["averaged"]["weight"] == 0.25 and mean["config"]["layers"] == 1

    exported = tmp_path / "mean.onnx"
    assert export_answer_model.main(["--run", str(out), "--data", str(data), "--out", str(exported),
                                     "--val-pairs", "0"]) == 0
    figures = json.loads((out / "export.json").read_text())
    assert figures["bytes"] == exported.stat().st_size and "int8" not in figures
    score = AnswerModel(exported, threads=1).score(QUESTION, ["Climate policy"], [ANSWER_SENTENCE])[0]
    assert 0.0 < score.probability < 1.0


def test_checkpoints_of_different_shapes_or_a_bad_share_are_a_clear_error(runs, tmp_path, capsys):
    tmp, _ = runs
    out = tmp_path / "x"
    assert average_answer_models.main(["--a", str(tmp / "a"), "--b", str(tmp / "deep"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "error: the two differ in layers: 1 against 2"
    assert not (out / "model.pt").exists()
    for argv in (["--weight", "1.5"], ["--b", str(tmp_path / "nothing")]):
        with pytest.raises(SystemExit) as stop:
            average_answer_models.main(["--a", str(tmp / "a"), "--b", str(tmp / "b"), "--out", str(out), *argv])
        assert stop.value.code == 2
    with pytest.raises(SystemExit):
        export_answer_model.main(["--run", str(tmp / "a"), "--data", str(tmp / "data"), "--out", str(out / "m.onnx"),
                                  "--val-pairs", "-1"])
