"""A question's language, the part of it that English text can match, and the kind of answer it asks for."""

import pytest

from rag.answer.multilingual import latin_part, question_language, span_question
from rag.answer.question import question_type
from rag.search.bm25 import terms


@pytest.mark.parametrize("question, lang", [
    ("谁领导国家碳中和科技专家委员会？", "zh"),
    ("IPCC在哪里发布了《综合报告》？", "zh"),  # one Latin word among Chinese ones
    ("What does 碳达峰 mean?", "en"),  # a Chinese term inside an English question
    ("Who leads the committee?", "en"),
    ("Où le GIEC a-t-il publié son rapport ?", "en"),  # Latin script: the English pipeline
])
def test_question_language(question, lang):
    assert question_language(question) == lang


def test_latin_part_keeps_english_as_is_and_only_latin_words_of_chinese():
    english = "Where did the IPCC release its “Synthesis Report”, 2023?"
    assert latin_part(english) is english
    assert terms(latin_part("IPCC第58次全体会议在哪里举行？")) == ["ipcc", "58"]
    assert terms(latin_part("谁领导国家碳中和科技专家委员会？")) == []
    assert latin_part("２０２１年的配额") == "2021"  # full-width digits read as digits


@pytest.mark.parametrize("question, stand_in, kind", [
    ("谁领导国家碳中和科技专家委员会？", "who", "agent"),
    ("IPCC在哪里发布了《综合报告》？", "where IPCC", "place"),
    ("国家碳中和科技专家委员会第一次会议是在哪一天召开的？", "when", "date"),
    ("有多少位作者参与撰写了这份综合报告？", "how many", "number"),
])
def test_chinese_interrogatives_map_to_the_span_pickers_kinds(question, stand_in, kind):
    assert span_question(question) == stand_in
    assert question_type(span_question(question)) == kind


def test_questions_of_other_kinds_get_no_span():
    assert span_question("《大纲》的全称是什么？") is None
    assert span_question("为什么科技创新是关键？") is None
