"""End to end through the core: real model, real FAISS index of the seeds, real answers."""

import json

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rag.search.hybrid import Filters

from helpers import SEED_FILE

SEED_TEXT = SEED_FILE.read_bytes().decode("utf-8")

# A dozen questions written from the seeds, with a string the answer must contain.
QUESTIONS = [
    ("Who leads the National Carbon Neutrality Science and Technology Expert Committee?", "Liu Zhongmin"),
    ("Where did the IPCC release its Synthesis Report?", "Interlaken"),
    ("Who presided over the first meeting of the expert committee?", "Zhang Yudong"),
    ("How many people attended the committee's first meeting?", "60"),
    ("Who led the Chinese delegation to the 58th plenary session of the IPCC?", "Bi Baobao"),
    ("How many authors participated in the Synthesis Report?", "93"),
    ("Who is the chair of the IPCC?", "Hoesung Lee"),
    ("What share of the manufacturing industry do traditional industries account for?", "80%"),
    ("Which minister was interviewed at the Minister Channel event?", "Jin Zhuanglong"),
    ("Which industry does the 2021 and 2022 quota allocation plan cover?", "Power Generation"),
    ("When did the ministry issue the letter on voluntary emission reduction methodologies?", "March 30"),
    ("Which fields do the greenhouse gas emission reduction methodologies include?", "energy industry"),
]
UNANSWERABLE = [
    "Who won the 2022 FIFA World Cup?",
    "What is the capital of France?",
    "What did the Federal Reserve decide about interest rates?",
]


def assert_citations_slice_back(answer):
    for c in answer.citations:
        assert SEED_TEXT[c.char_start:c.char_end] == c.quote
        assert f"{c.quote} [{c.n}]" in answer.answer
    if answer.span is not None:
        assert any(answer.span in c.quote for c in answer.citations)


def test_committee_question_cites_liu_zhongmin(engine):
    heuristic = engine.ask(QUESTIONS[0][0], answerer="heuristic")
    assert not heuristic.abstained
    assert "Liu Zhongmin" in heuristic.answer and "Liu Zhongmin" in heuristic.span
    # The model ranks Zhao Penggao's congratulations on the committee first (a known miss, README),
    # but Liu Zhongmin's sentence, the first stage's best, still follows it as support.
    model = engine.ask(QUESTIONS[0][0], answerer="model")
    assert not model.abstained and "Liu Zhongmin" in model.answer
    # how sure: the model's calibrated confidence, above the threshold it refuses below; none from the heuristic
    assert heuristic.confidence is None
    assert engine.answer_model.calibration.threshold <= model.confidence <= 1.0
    for answer in (heuristic, model):
        assert answer.citations[0].title.startswith("The National carbon neutrality Science and Technology Expert")
        assert_citations_slice_back(answer)
        # computed, or from the engine's cache if another test asked first (tests/service/test_answer_cache.py)
        assert set(answer.timings_ms) in ({"retrieve", "answer", "total"}, {"cache", "total"})


def test_seed_questions_are_answered(engine):
    hits = [expected in engine.ask(q).answer for q, expected in QUESTIONS]
    assert sum(hits) >= 11, hits


def test_off_topic_questions_abstain_with_nearest_passages(engine):
    for q in UNANSWERABLE:
        answer = engine.ask(q)
        assert answer.abstained, q
        assert answer.citations == [] and answer.span is None
        assert answer.passages  # the nearest passages are shown instead


def test_answers_are_short(engine):
    for q, _ in QUESTIONS:
        assert len(engine.ask(q).citations) <= 3


def test_every_mode_answers_and_respects_filters(engine):
    for mode in ("dense", "bm25", "hybrid"):
        assert "Interlaken" in engine.ask(QUESTIONS[1][0], mode=mode).answer
    quotas = next(b.id for b in engine.index.bulletins if "Quotas" in b.title)
    only_quotas = engine.ask(QUESTIONS[1][0], filters=Filters(bulletin_ids=frozenset([quotas])))
    assert all(p.bulletin_id == quotas for p in only_quotas.passages)
    # the seed's dates have no year ("--03-20"): a filter keeps those some year puts inside it
    dated = engine.ask(QUESTIONS[1][0], filters=Filters(date_from="2023-03-10", date_to="2023-03-31"))
    assert {engine.bulletins[p.bulletin_id].date for p in dated.passages} <= {"--03-20", "--03-30"}
    assert "Interlaken" in dated.answer


def test_response_object_serialises_to_the_documented_shape(engine):
    data = json.loads(json.dumps(engine.ask(QUESTIONS[1][0]).to_dict()))
    assert set(data) == {"question", "answer", "span", "abstained", "citations", "passages", "timings_ms", "lang",
                         "confidence"}
    assert data["lang"] == "en" and isinstance(data["confidence"], float)
    assert set(data["citations"][0]) == {"n", "bulletin_id", "title", "source", "char_start", "char_end", "quote",
                                         "text_source", "page"}
    assert set(data["passages"][0]) == {"bulletin_id", "title", "source", "char_start", "char_end", "text", "score",
                                        "text_source", "page"}
    for record in data["citations"] + data["passages"]:  # a .txt file: it is its own text, without pages
        assert record["text_source"] == record["source"] and record["page"] is None


WORDS = sorted({w.strip(".,()’") for w in SEED_TEXT.split() if len(w) > 3})


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), st.sampled_from(["Who", "What", "When", "How many"]))
def test_citation_invariant_holds_for_any_question(engine, words, wh):
    answer = engine.ask(f"{wh} {' '.join(words)}?")
    assert_citations_slice_back(answer)
    assert answer.abstained == (not answer.citations)
    for p in answer.passages:
        assert SEED_TEXT[p.char_start:p.char_end] == p.text


def test_chat_answers_the_last_user_turn_completing_a_follow_up(engine):
    messages = [("user", "Who leads the National Carbon Neutrality Science and Technology Expert Committee?"),
                ("assistant", "Liu Zhongmin."), ("user", "  And who presided over it?")]
    answer = engine.chat(messages)
    assert answer.question == "And who presided over it?"  # what the user typed
    assert answer.searched_question.startswith("And who presided over it? (") and "Committee" in answer.searched_question
    assert "Zhang Yudong" in answer.answer
    assert_citations_slice_back(answer)
