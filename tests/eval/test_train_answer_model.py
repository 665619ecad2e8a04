"""The answer model's training recipe (eval/train_answer_model.py): it trains, stops on time,
resumes, shrinks, exports, and batches whole questions for the listwise loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval import answer_data
from rag.answer.model import AnswerModel
from rag.answer.reading import InputLimits

from helpers import ANSWER_SENTENCE, QUESTION
from helpers import TINY_SQUAD as TINY


def test_the_recipe_trains_resumes_shrinks_and_exports_a_model_that_reads_its_limits(tmp_path):
    """Train a few steps, stop on time and resume on a shorter schedule, make a 1-layer 48-token model from it with
    --init (on the batches the first run never reached), export that, and load it: the file
    carries the limits it was trained with."""
    import torch

    from eval import export_answer_model, train_answer_model

    squad, data = tmp_path / "tiny.json", tmp_path / "data"
    squad.write_text(json.dumps(TINY), encoding="utf-8")
    assert answer_data.main(["--squad", str(squad), "--out", str(data), "--seed", "3", "--held-out", "0.34"]) == 0
    big, small = tmp_path / "big", tmp_path / "small"
    common = ["--data", str(data), "--threads", "1", "--batch-size", "4", "--steps", "3"]
    assert train_answer_model.main([*common, "--out", str(big), "--layers", "2", "--minutes", "0"]) == 3  # time up
    assert (big / "checkpoint.pt").is_file() and not (big / "model.pt").exists()
    # resumed with a shorter schedule: the decay ends at the new --steps
    assert train_answer_model.main([*common, "--out", str(big), "--layers", "2", "--resume", "--steps", "2"]) == 0
    assert torch.load(big / "model.pt", weights_only=False)["config"]["steps"] == 2
    with pytest.raises(SystemExit):  # past the end of the data
        train_answer_model.main([*common, "--out", str(small), "--skip-batches", "100000"])
    assert train_answer_model.main([*common, "--out", str(small), "--layers", "1", "--init", str(big),
                                    "--skip-batches", "3", "--max-tokens", "48", "--max-sentence-tokens", "30"]) == 0
    assert torch.load(small / "model.pt", weights_only=False)["config"]["skip_batches"] == 3
    with pytest.raises(SystemExit) as stopped:  # a folder training never finished: said, not a traceback
        export_answer_model.main(["--run", str(big / "nothing"), "--data", str(data), "--out", str(tmp_path / "x.onnx")])
    assert stopped.value.code == 2
    out = tmp_path / "v" / "small.onnx"  # its folder is made
    assert export_answer_model.main(["--run", str(small), "--data", str(data), "--out", str(out),
                                     "--val-pairs", "16", "--agreement-pairs", "16"]) == 0
    model = AnswerModel(out, threads=1)
    assert model.limits == InputLimits(max_tokens=48, max_sentence=30)
    scores = model.score(QUESTION, ["Title", "Title"], [ANSWER_SENTENCE, " ".join(["word"] * 80)])
    assert len(scores) == 2 and all(0 <= s.probability <= 1 for s in scores)


def test_listwise_batches_hold_whole_questions_with_the_answer_first():
    from eval.answer_data import Pair
    from eval.training_batches import group_plan, question_groups

    pairs = [Pair(f"q{q}", 0, f"question {q}{' swapped' if kind == 'swap' else ''}", "T", f"s{q}-{k}",
                  int(kind == "pos"), kind=kind)
             for q in range(5) for k, kind in enumerate(["para", "hard", "pos", "para", "swap", "hard"])]
    groups = question_groups(pairs)
    assert len(groups) == 10  # a swapped question is a group of its own
    labels = np.array([p.label for p in pairs])
    plan = group_plan(groups, labels, per_group=3, groups_per_batch=4, seed=0, epoch=0)
    again = group_plan(groups, labels, per_group=3, groups_per_batch=4, seed=0, epoch=1)
    assert [rows.tolist() for rows, _ in plan] != [rows.tolist() for rows, _ in again]  # drawn anew each epoch
    seen = []
    for rows, slots in plan:
        assert len(rows) == len(slots)
        for g in np.unique(slots[:, 0]):
            members = rows[slots[:, 0] == g]
            assert len({(pairs[i].qid, pairs[i].question) for i in members}) == 1 and len(members) <= 3
            assert labels[members].sum() == (pairs[members[0]].kind != "swap") == labels[members[0]]
            seen.append((pairs[members[0]].qid, pairs[members[0]].question))
    assert sorted(seen) == sorted({(p.qid, p.question) for p in pairs})


def test_the_listwise_loss_rewards_ranking_the_answer_first():
    import torch

    from eval.train_answer_model import loss_of

    slots = torch.tensor([[0, 0], [0, 1], [0, 2]])
    labels = torch.tensor([1.0, 0.0, 0.0])
    batch = ((None,), torch.ones(3, 4, dtype=torch.bool), torch.full((3, 2), -1))

    def loss(logits, weight):
        def model(*_):
            return torch.tensor(logits), torch.zeros(3, 4), torch.zeros(3, 4)
        return loss_of(model, batch, labels, torch, slots, weight).item()

    # Same pointwise loss (the same logits, swapped between two negatives)... and more with the answer last.
    assert loss([2.0, 1.0, 0.0], 0.0) == pytest.approx(loss([2.0, 0.0, 1.0], 0.0))
    assert loss([2.0, 1.0, 0.0], 1.0) == pytest.approx(loss([2.0, 0.0, 1.0], 1.0))
    assert loss([2.0, 1.0, 0.0], 1.0) - loss([2.0, 1.0, 0.0], 0.0) < loss([0.0, 1.0, 2.0], 1.0) - loss(
        [0.0, 1.0, 2.0], 0.0)


def test_a_listwise_run_tokenises_once_fits_its_minutes_and_names_its_base(tmp_path):
    import torch

    from eval import train_answer_model
    from rag.config import default_model

    squad, data, run = tmp_path / "tiny.json", tmp_path / "data", tmp_path / "run"
    squad.write_text(json.dumps(TINY), encoding="utf-8")
    assert answer_data.main(["--squad", str(squad), "--out", str(data), "--seed", "3", "--held-out", "0.34",
                             "--para-negatives", "-1", "--hard-negatives", "2", "--draws", "per-article",
                             "--workers", "2"]) == 0
    common = ["--data", str(data), "--threads", "1", "--layers", "1", "--base", default_model()]
    assert train_answer_model.main([*common, "--out", str(run), "--prepare"]) == 0
    cache = next(data.glob("train.tokens-*.npz"))
    made = cache.stat().st_mtime_ns
    assert train_answer_model.main([*common, "--out", str(run), "--listwise", "4", "--batch-size", "8",
                                    "--epochs", "50", "--fit-minutes", "0"]) == 0
    assert cache.stat().st_mtime_ns == made  # read, not made again
    config = torch.load(run / "model.pt", weights_only=False)["config"]
    assert config["listwise"] == 4 and config["steps"] == 111  # shortened after its timed steps: no minutes left
    assert json.loads((run / "val.json").read_text())["questions"] > 0


def test_asking_for_a_gpu_where_there_is_none_is_a_clear_error(tmp_path, capsys):
    import torch

    from eval import train_answer_model

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit):
        train_answer_model.main(["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--device", "cuda"])
    assert "no GPU is visible" in capsys.readouterr().err
