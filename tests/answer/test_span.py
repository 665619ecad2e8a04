import pytest

from rag.answer.question import parse_question
from rag.answer.span import find_span

COMMITTEE = ("Liu Zhongmin, an academician at the Dalian Institute of Chemical Physics of the Chinese Academy "
             "of Sciences, leads the committee as its head.")
IPCC = ("On March\u00a020, 2023, the Intergovernmental Panel on Climate Change (IPCC) released the Synthesis "
        "Report of its Sixth Assessment Report in Interlaken, Switzerland, after the panel’s 58th session approved it.")


def span(question, sentence):
    found = find_span(parse_question(question), sentence)
    return sentence[found[0]:found[1]] if found else None


@pytest.mark.parametrize("question, sentence, expected", [
    ("Who leads the committee?", COMMITTEE, "Liu Zhongmin"),
    ("Where did the IPCC release its Synthesis Report?", IPCC, "Interlaken, Switzerland"),
    ("When did the IPCC release its Synthesis Report?", IPCC, "March\u00a020, 2023"),
    ("Who presided over the meeting?",
     "Vice Minister of Science and Technology Zhang Yudong presided over the meeting and gave a speech.", "Zhang Yudong"),
    ("Which ministry held the meeting?",
     "On March 1, 2023, the Ministry of Science and Technology held the first meeting of the committee in Beijing.",
     "Ministry of Science and Technology"),
    ("Which organisation is China's focal point for the IPCC?",
     "The China Meteorological Administration is China’s national focal point for the IPCC, and Chinese "
     "scientists were among the authors.", "China Meteorological Administration"),
    ("What was the compliance rate?", "Measured by allowances surrendered, the compliance rate was 99.5\u00a0percent.",
     "99.5\u00a0percent"),
    ("How many key emitters did the first cycle cover?",
     "The first cycle covered 2,162 key emitters in the power generation sector.", "2,162"),
])
def test_span_is_the_phrase_asked_for(question, sentence, expected):
    assert span(question, sentence) == expected


def test_no_span_rather_than_a_guess():
    assert span("Who won the World Cup?", "the market opened for trading in the spring.") is None


def test_strict_accepts_only_the_exact_kind():
    who = parse_question("Who leads it?")
    assert find_span(who, "The Ministry of Science and Technology leads it.", strict=True) is None
    assert find_span(who, COMMITTEE, strict=True) is not None
