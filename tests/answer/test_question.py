"""A question parsed once: language, terms, the kind of phrase asked for, the type noun."""

import numpy as np

from rag.answer.question import QUESTION_TERMS, parse_question, question_type


def test_an_english_question_is_read_as_asked():
    q = parse_question("Which ministry held the first meeting?")
    assert (q.asked, q.text, q.lang, q.kind, q.spans) == (q.asked, q.asked, "en", "agent", True)
    assert q.type_terms == {"ministri"}
    assert "meet" in q.content_terms and not q.content_terms & QUESTION_TERMS
    assert q.vector is None and q.typed


def test_a_chinese_question_is_matched_through_its_english_stand_in():
    q = parse_question("IPCC在哪里发布了《综合报告》？", np.ones(3, dtype=np.float32))
    assert (q.lang, q.text, q.kind, q.spans) == ("zh", "where IPCC", "place", True)
    assert q.vector is not None and q.typed
    assert not parse_question("为什么科技创新是关键？").spans  # a "why" question gets no short span


def test_question_types():
    assert [question_type(q) for q in ("Who is it?", "When was it?", "Where was it?", "How many were there?",
                                        "What is it?", "Where and when was it?")] == \
        ["agent", "date", "place", "number", "thing", "place"]
