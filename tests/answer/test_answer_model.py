"""The trained answer model (rag/answer/model.py): its scores, spans, windows and file, and the
engine with RAG_ANSWERER=model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.model import MODEL_FILE, AnswerModel, best_span
from rag.answer.reading import InputLimits
from rag.encode.cpu import has_int8_dot_product
from rag.service.lifecycle import open_engine

from helpers import ANSWER_SENTENCE, LONG_SENTENCE, QUESTION, UNRELATED


@pytest.fixture(scope="module")
def model() -> AnswerModel:
    return AnswerModel(threads=1)


def test_the_model_ships_as_package_data():
    assert MODEL_FILE.is_file()
    assert 5_000_000 < MODEL_FILE.stat().st_size < 30_000_000


def test_an_answering_sentence_scores_above_an_unrelated_one(model):
    good, bad = model.score(QUESTION, ["Climate policy", "Climate policy"], [ANSWER_SENTENCE, UNRELATED])
    assert good.probability > bad.probability
    assert good.probability > 0.5 > bad.probability


def test_the_span_is_verbatim_inside_the_sentence(model):
    (score,) = model.score(QUESTION, ["Climate policy"], [ANSWER_SENTENCE])
    assert score.span is not None
    start, end = score.span
    assert 0 <= start < end <= len(ANSWER_SENTENCE)
    assert "2021" in ANSWER_SENTENCE[start:end]


def test_a_candidate_scores_the_same_whatever_is_scored_beside_it(model):
    """One call per candidate: int8 activation scales are per call, so in a batch a candidate's
    probability would move with its neighbours; and with several workers the order is kept, also
    where a long sentence's windows are scored beside other candidates."""
    (alone,) = model.score(QUESTION, ["Climate policy"], [ANSWER_SENTENCE])
    (long_alone,) = model.score(QUESTION, ["Climate policy"], [LONG_SENTENCE])
    others = [UNRELATED, LONG_SENTENCE, ANSWER_SENTENCE, "The rules were first drafted by the ministry in 2019."]
    parallel = AnswerModel(threads=1, workers=2, blocks=model.blocks)
    for scorer in (model, parallel):
        beside = scorer.score(QUESTION, ["Climate policy"] * 4, others)
        assert beside[2] == alone and beside[1] == long_alone
        assert beside[0].probability < 0.5 < beside[2].probability


@pytest.mark.parametrize("blocks", ["float", "per-channel"])
def test_the_block_layers_rewritten_give_the_same_answers(blocks, tmp_path):
    """The block-quantised down-projections run in float where the CPU lacks int8 dot products,
    per channel where it has them (rag/encode/block_matmul.py): the same weights, so the same
    verdicts and spans, near the same probabilities, and the file's calibration kept."""
    sentences = [ANSWER_SENTENCE, UNRELATED, "The rules were first drafted by the ministry in 2019."]
    contexts = ["Climate policy"] * 3
    as_shipped = AnswerModel(threads=1, blocks="int8", cache_dir=tmp_path)
    rewritten = AnswerModel(threads=1, blocks=blocks, cache_dir=tmp_path)
    copies = [p.name for p in tmp_path.iterdir()]  # made once, there, then split (split_fusions)
    assert sum(n.endswith(f".{blocks}-blocks.onnx") for n in copies) == 1
    split = [n for n in copies if n.endswith(".split-fusions.onnx")]  # the latest model's only
    assert len(split) == 1 and f".{blocks}-blocks." in split[0]
    assert (rewritten.calibration, rewritten.limits) == (as_shipped.calibration, as_shipped.limits)
    a, b = as_shipped.score(QUESTION, contexts, sentences), rewritten.score(QUESTION, contexts, sentences)
    assert [s.span for s in a] == [s.span for s in b]
    assert [s.probability > 0.5 for s in a] == [s.probability > 0.5 for s in b] == [True, False, False]
    assert np.allclose([s.probability for s in a], [s.probability for s in b], atol=0.05)


def test_split_kernels_give_the_answers_of_the_fused_ones(model, tmp_path):
    """The served session runs ONNX Runtime's fused layer norms and GELUs as standard operators
    (rag/encode/split_fusions.py, for speed): the same arithmetic, so the same verdicts and spans and
    near the same probabilities as the fused graph."""
    sentences = [ANSWER_SENTENCE, UNRELATED, LONG_SENTENCE, "The rules were first drafted by the ministry in 2019."]
    contexts = ["Climate policy"] * 4
    fused = AnswerModel(threads=1, blocks=model.blocks, cache_dir=tmp_path, split=False)
    split = AnswerModel(threads=1, blocks=model.blocks, cache_dir=tmp_path)
    assert any(p.name.endswith(".split-fusions.onnx") for p in tmp_path.iterdir())
    a, b = fused.score(QUESTION, contexts, sentences), split.score(QUESTION, contexts, sentences)
    assert [s.span for s in a] == [s.span for s in b]
    assert [s.probability > 0.5 for s in a] == [s.probability > 0.5 for s in b]
    assert np.allclose([s.probability for s in a], [s.probability for s in b], atol=0.02)


def test_the_cpu_chooses_how_the_block_layers_run(model):
    assert model.blocks == ("per-channel" if has_int8_dot_product() else "float")
    with pytest.raises(ValueError, match="block layers run as one of"):
        AnswerModel(threads=1, blocks="int4")


def test_the_end_of_a_long_sentence_can_answer(model):
    """Cut at 64 pieces, the sentence never says where the meeting was; read in windows, its
    span is the city, at its place in the whole sentence."""
    question = "In which city did the expert committee hold its first meeting?"
    cut = AnswerModel(threads=1, blocks=model.blocks, windows=False)
    (whole,), (start_only,) = model.score(question, ["Climate policy"], [LONG_SENTENCE]), cut.score(
        question, ["Climate policy"], [LONG_SENTENCE])
    assert whole.span is not None and LONG_SENTENCE[whole.span[0]:whole.span[1]] == "Lyon"
    assert start_only.span is None or "Lyon" not in LONG_SENTENCE[start_only.span[0]:start_only.span[1]]
    assert whole.probability > start_only.probability


def test_a_long_sentences_span_comes_from_whichever_window_scores_it_best(model):
    """The date is in the first window, the meeting in the second: the second window says best that
    the sentence answers, the first holds the answer. The sentence gets the better probability
    and the better span, "March 1"."""
    question = "When did the ministry hold the first meeting of its new expert committee?"
    cut = AnswerModel(threads=1, blocks=model.blocks, windows=False)
    (whole,), (start_only,) = model.score(question, ["Climate policy"], [LONG_SENTENCE]), cut.score(
        question, ["Climate policy"], [LONG_SENTENCE])
    assert LONG_SENTENCE[whole.span[0]:whole.span[1]] == "March 1"
    assert whole.probability > start_only.probability


def test_best_span_keeps_start_before_end():
    offsets = np.array([[0, 3], [4, 8], [9, 12]])
    span, confidence, _, _ = best_span(np.array([0.0, 0.0, 5.0]), np.array([5.0, 0.0, 1.0]), offsets)
    assert span == (9, 12) and 0 < confidence <= 1


@pytest.mark.slow
def test_engine_with_the_model_answers_and_cites_exactly(settings, embedder, engine):
    model_engine, _ = open_engine(settings.with_(answerer="model"), embedder)
    for row in [json.loads(line) for line in open("eval/questions.jsonl", encoding="utf-8")][:12]:
        answer = model_engine.ask(row["question"])
        for c in answer.citations:  # the citation invariant
            assert model_engine.files[c.source].text[c.char_start:c.char_end] == c.quote
        if answer.span:
            assert any(answer.span in c.quote for c in answer.citations[:1])
    rows = model_engine.explain(row["question"])
    assert rows and {"confidence", "probability", "span", "start_logit", "end_logit"} <= set(rows[0])
    assert "confidence" not in rows[-1] or len(rows) == 1  # refusal reads the chosen sentence's only
    heuristic = model_engine.ask(row["question"], answerer="heuristic")
    assert heuristic.question == row["question"].strip()


def test_a_missing_answer_model_file_is_named_in_a_clear_error(settings, embedder, tmp_path):
    from rag.errors import IndexStateError

    with pytest.raises(IndexStateError, match="RAG_ANSWER_MODEL"):
        open_engine(settings.with_(answerer="model", answer_model=str(tmp_path / "none.onnx")), embedder)


def test_a_model_file_carries_its_limits_and_calibration(tmp_path):
    from eval.export_answer_model import stamp
    from rag.answer.calibration import Calibration

    copy = tmp_path / "answer.onnx"
    copy.write_bytes(MODEL_FILE.read_bytes())
    limits = InputLimits(max_tokens=64, max_question=20, max_sentence=48)
    calibration = Calibration(4.0, (0.5, 6.0), -3.0, 0.4)
    stamp(copy, {**limits.metadata(), **calibration.metadata()})
    model = AnswerModel(copy, threads=1)
    assert (model.limits, model.calibration) == (limits, calibration)
    assert model.score(QUESTION, ["Title"], [ANSWER_SENTENCE])[0].probability > 0.5
    assert Calibration.from_metadata({}) == Calibration()  # files from before calibration was stored
    chosen = {"relevance": 0.8, "dense": 0.3, "lexical": 0.9, "passage": 1.0}
    assert calibration.confidence([0.9], chosen) > calibration.confidence([0.1], chosen)
    # files from before feature names were stored weigh the best logit and the relevance
    older = {k: v for k, v in calibration.metadata().items() if k != "calibration.confidence_features"}
    assert Calibration.from_metadata(older) == calibration


def test_windows_can_be_turned_off_for_the_engine(tmp_path):
    """RAG_ANSWER_WINDOWS=0: only a sentence's first 64 word pieces are read (faster on long sentences)."""
    from rag.config import Settings
    from rag.service.lifecycle import load_answer_model

    assert load_answer_model(Settings(index=tmp_path)).windows is True
    assert load_answer_model(Settings(index=tmp_path, answer_windows=False)).windows is False
