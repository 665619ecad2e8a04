"""A question asked again is answered from the engine's cache, and only when nothing that decides
the answer changed: the question (blanks aside), top_k, mode, filters, answerer, the index."""

import pytest

from rag.errors import NotFoundError, QueryError
from rag.records import Answer, Citation
from rag.search.hybrid import Filters
from rag.service.answer_cache import AnswerCache
from rag.service.engine import Engine

IPCC = "Where did the IPCC release its Synthesis Report?"
COMPUTED = {"retrieve", "answer", "total"}
CACHED = {"cache", "total"}


def fresh(engine: Engine, **changes) -> Engine:
    """The session's engine with an empty cache of its own (its index and models shared)."""
    return Engine(engine.settings.with_(**changes), engine.embedder, list(engine.files.values()), engine.index,
                  engine.answer_model)


def answer(text: str) -> Answer:
    citation = Citation(1, "b", "Title", "seeds/x.txt", 0, len(text), text)
    return Answer("q", f"{text} [1]", None, False, [citation], [], {"total": 1.0})


def test_the_least_recently_asked_answer_is_dropped_first():
    cache = AnswerCache(2)
    cache.put("a", answer("A"))
    cache.put("b", answer("B"))
    assert cache.get("a").answer == "A [1]"  # "a" is now the most recent
    cache.put("c", answer("C"))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert len(cache) == 2


def test_a_cache_of_size_zero_keeps_nothing():
    cache = AnswerCache(0)
    cache.put("a", answer("A"))
    assert cache.get("a") is None and len(cache) == 0


def test_what_a_caller_does_to_its_copy_does_not_change_the_cached_answer():
    cache = AnswerCache(4)
    cache.put("a", answer("A"))
    got = cache.get("a")
    got.citations.clear()
    got.timings_ms["total"] = 99.0
    again = cache.get("a")
    assert len(again.citations) == 1 and again.timings_ms == {"total": 1.0}


def test_the_same_question_again_is_answered_from_the_cache(engine):
    engine = fresh(engine)
    first = engine.ask(IPCC)
    assert set(first.timings_ms) == COMPUTED and "Interlaken" in first.answer
    again = engine.ask(f"  {IPCC}\n")  # blanks around it do not change the question
    assert set(again.timings_ms) == CACHED
    assert {**again.to_dict(), "timings_ms": None} == {**first.to_dict(), "timings_ms": None}


@pytest.mark.parametrize("options", [{"top_k": 3}, {"mode": "bm25"}, {"answerer": "heuristic"},
                                     {"filters": Filters(date_from="2023-03-10")}])
def test_other_options_are_other_questions(engine, options):
    engine = fresh(engine)
    engine.ask(IPCC)
    assert set(engine.ask(IPCC, **options).timings_ms) == COMPUTED
    assert set(engine.ask(IPCC, **options).timings_ms) == CACHED
    assert set(engine.ask(IPCC).timings_ms) == CACHED


def test_a_bad_request_is_refused_even_when_its_question_was_answered(engine):
    engine = fresh(engine)
    engine.ask(IPCC)
    with pytest.raises(QueryError, match="top_k"):
        engine.ask(IPCC, top_k=0)
    with pytest.raises(NotFoundError, match="unknown bulletin id"):
        engine.ask(IPCC, filters=Filters(bulletin_ids=frozenset({"no-such-bulletin"})))


def test_answer_cache_zero_computes_every_answer(engine):
    engine = fresh(engine, answer_cache=0)
    assert [set(engine.ask(IPCC).timings_ms) for _ in range(2)] == [COMPUTED, COMPUTED]
