"""eval/recover_answer_model.py: a shipped int8 answer model back to trainable float weights,
and eval/answer_data.py's --split-seed, which together let a new run train on from a shipped
version over fresh pairs while holding out the same articles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval import answer_data, recover_answer_model
from rag.answer.model import MODEL_FILE, AnswerModel
from rag.answer.reading import load_tokenizer

from helpers import ANSWER_SENTENCE, QUESTION, UNRELATED
from helpers import TINY_SQUAD as TINY

PAIRS = [  # (question, context, sentence)
    (QUESTION, "Climate policy | The session opened on Monday.", ANSWER_SENTENCE),
    (QUESTION, "Weather", UNRELATED),
    ("Who chairs the expert committee?", "Carbon neutrality",
     "Liu Zhongmin chairs the expert committee, which has 60 members."),
    ("How many members does the committee have?", "Carbon neutrality",
     "Liu Zhongmin chairs the expert committee, which has 60 members."),
    ("Where was the report approved?", "IPCC", "The report was approved in Interlaken, Switzerland, on 19 March."),
]


def _torch_scores(run, pairs):
    """The recovered network's scores, through the training script's own ``predict``."""
    import torch

    from eval.answer_data import Pair
    from eval.train_answer_model import build_model, predict

    state = torch.load(run / "model.pt", weights_only=False)
    model = build_model(state["config"]["layers"])
    model.load_state_dict(state["model"])
    return predict(model, load_tokenizer(), [Pair(f"q{k}", 0, q, c, s, 0) for k, (q, c, s) in enumerate(pairs)])


def test_the_shipped_model_comes_back_as_float_weights_that_answer_as_it_does(tmp_path):
    """The recovered network gives the shipped file's probabilities (within the int8 activations'
    noise) and its short answers: query, key and value in the wrong order, or a matrix left
    untransposed, would give neither."""
    assert recover_answer_model.main(["--out", str(tmp_path / "v")]) == 0
    recovered = _torch_scores(tmp_path / "v", PAIRS)
    shipped = AnswerModel(MODEL_FILE, threads=1, span_threshold=0.0)
    for (question, context, sentence), mine in zip(PAIRS, recovered):
        theirs = shipped.score(question, [context], [sentence])[0]
        assert abs(mine.probability - theirs.probability) < 0.1, (question, sentence)
    assert recovered[0].probability > 0.5 > recovered[1].probability
    for k in (0, 2, 4):
        theirs = shipped.score(PAIRS[k][0], [PAIRS[k][1]], [PAIRS[k][2]])[0]
        assert recovered[k].span == theirs.span


def test_a_trained_run_comes_back_from_its_export_within_half_a_quantisation_step(tmp_path):
    """Train a 1-layer run, export it, recover it: every weight the training saved comes back,
    biases and layer norms exactly, matrices within half an 8-bit step; and a run can start from
    the recovered folder (--init)."""
    import torch

    from eval import export_answer_model, train_answer_model

    squad, data = tmp_path / "tiny.json", tmp_path / "data"
    squad.write_text(json.dumps(TINY), encoding="utf-8")
    assert answer_data.main(["--squad", str(squad), "--out", str(data), "--seed", "3", "--held-out", "0.34"]) == 0
    run, exported, back = tmp_path / "run", tmp_path / "run.onnx", tmp_path / "back"
    common = ["--data", str(data), "--threads", "1", "--batch-size", "4", "--steps", "3", "--layers", "1"]
    assert train_answer_model.main([*common, "--out", str(run)]) == 0
    assert export_answer_model.main(["--run", str(run), "--data", str(data), "--out", str(exported),
                                     "--val-pairs", "8", "--agreement-pairs", "8"]) == 0
    assert recover_answer_model.main(["--onnx", str(exported), "--out", str(back)]) == 0
    trained = torch.load(run / "model.pt", weights_only=False)["model"]
    recovered = torch.load(back / "model.pt", weights_only=False)
    assert recovered["config"]["layers"] == 1 and recovered["config"]["limits"]["max_tokens"] == 96
    weights = recovered["model"]
    assert set(weights) == set(trained)
    for name, value in trained.items():
        value, again = value.float().numpy(), weights[name].float().numpy()
        assert again.shape == value.shape, name
        if value.ndim == 1 and "embeddings.LayerNorm" not in name:  # biases and layer norms stay float
            assert np.array_equal(again, value), name
        elif "position_ids" not in name:
            # int8 per output channel: a step is (column's largest |w|) / 127; 8 bits per tensor: the
            # range, widened to hold zero, / 255
            step = (max(value.max(), 0) - min(value.min(), 0)) / 255 if "embeddings" in name \
                else np.abs(value).max() / 127
            assert np.abs(again - value).max() <= 0.51 * step + 1e-7, name
    assert train_answer_model.main([*common, "--out", str(tmp_path / "on"), "--init", str(back)]) == 0


def test_a_file_that_is_not_an_answer_model_is_a_one_line_error(tmp_path, capsys):
    assert recover_answer_model.main(["--onnx", str(tmp_path / "missing.onnx"), "--out", str(tmp_path / "x")]) == 2
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    assert recover_answer_model.main(["--onnx", str(bogus), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert not (tmp_path / "x" / "model.pt").exists()


def test_a_split_seed_holds_out_the_same_articles_while_the_training_pairs_are_drawn_afresh(tmp_path):
    squad = tmp_path / "tiny.json"
    squad.write_text(json.dumps(TINY), encoding="utf-8")
    common = ["--squad", str(squad), "--held-out", "0.34", "--swap-share", "1.0"]
    assert answer_data.main([*common, "--out", str(tmp_path / "a"), "--seed", "3"]) == 0
    assert answer_data.main([*common, "--out", str(tmp_path / "b"), "--seed", "4", "--split-seed", "3"]) == 0
    assert answer_data.main([*common, "--out", str(tmp_path / "c"), "--seed", "4"]) == 0
    read = {k: {s: (tmp_path / k / f"{s}.jsonl").read_text() for s in ("train", "val")} for k in "abc"}
    assert read["a"]["val"] == read["b"]["val"]
    assert read["a"]["train"] != read["b"]["train"]
    articles = {k: {json.loads(line)["article"] for line in read[k]["train"].splitlines()} for k in "abc"}
    assert articles["a"] == articles["b"]


@pytest.mark.parametrize("name", ["/encoder/encoder/layer.3/intermediate/dense/MatMul_quant", "/span/MatMul_quant"])
def test_weights_are_named_by_the_module_path_in_their_node(name):
    expected = {"/span/MatMul_quant": "span"}.get(name, "encoder.encoder.layer.3.intermediate.dense")
    assert recover_answer_model._module(name) == expected
