"""The trained answer model (rag/answer/model.py), the engine with RAG_ANSWERER=model, and the
training data builder (eval/answer_data.py) on tiny inline SQuAD-shaped data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval import answer_data
from eval.answer_eval import auc, threshold_for_false_refusals
from rag.answer.model import (
    DEFAULT_LIMITS,
    MODEL_FILE,
    AnswerModel,
    InputLimits,
    best_span,
    encode_pairs,
    load_tokenizer,
    sentence_windows,
)
from rag.encode.cpu import has_int8_dot_product
from rag.service.lifecycle import open_engine

QUESTION = "When did the committee approve the new carbon market rules?"
ANSWER_SENTENCE = "The committee approved the new carbon market rules on 14 March 2021 after a long debate."
UNRELATED = "Heavy rain flooded several villages in the south of the province last week."


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
    parallel = AnswerModel(threads=1, workers=2, float_blocks=model.float_blocks)
    for scorer in (model, parallel):
        beside = scorer.score(QUESTION, ["Climate policy"] * 4, others)
        assert beside[2] == alone and beside[1] == long_alone
        assert beside[0].probability < 0.5 < beside[2].probability


def test_the_block_layers_in_float_give_the_same_answers(model):
    """Where the CPU lacks int8 dot products the model runs its block-quantised layers in float
    (rag/encode/block_matmul.py): the same weights, so the same verdicts, near the same probabilities."""
    sentences = [ANSWER_SENTENCE, UNRELATED, "The rules were first drafted by the ministry in 2019."]
    contexts = ["Climate policy"] * 3
    as_shipped, in_float = AnswerModel(threads=1, float_blocks=False), AnswerModel(threads=1, float_blocks=True)
    assert (as_shipped.float_blocks, in_float.float_blocks) == (False, True)
    assert in_float.calibration == as_shipped.calibration  # the metadata survives the rewrite
    a, b = as_shipped.score(QUESTION, contexts, sentences), in_float.score(QUESTION, contexts, sentences)
    assert [s.span for s in a] == [s.span for s in b]
    assert np.allclose([s.probability for s in a], [s.probability for s in b], atol=0.05)
    assert model.float_blocks is not has_int8_dot_product()  # chosen from the CPU when not asked


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, InputLimits(max_tokens=48, max_question=12, max_sentence=30)])
def test_inputs_stay_short_and_offsets_slice_the_sentence(limits):
    tokenizer = load_tokenizer()
    long = " ".join(["word"] * 300) + "."
    encoded = encode_pairs(tokenizer, [QUESTION, long], ["Title | " + long, "Title"], [ANSWER_SENTENCE, long], limits)
    assert encoded.input_ids.shape[1] == limits.max_tokens  # the long pair fills it exactly
    assert len(encoded.sentence_offsets[1]) == limits.max_sentence
    for k, sentence in enumerate([ANSWER_SENTENCE, long]):
        first, offsets = encoded.sentence_start[k], encoded.sentence_offsets[k]
        ids = encoded.input_ids[k, first:first + len(offsets)]
        assert tokenizer.decode(ids.tolist()).replace(" ", "") in sentence.lower().replace(" ", "")
        assert offsets[-1, 1] <= len(sentence)


LONG_SENTENCE = (  # 81 word pieces, the answer in its last ones
    "On March 1, in order to carry out the national plan for cutting emissions in industry, transport, "
    "buildings and farming over the coming decade (hereinafter referred to as the \"Plan\"), and to bring "
    "together the research institutes, universities, provincial governments and companies that work on clean "
    "energy, grid storage and carbon capture, the ministry held the first meeting of its new expert committee "
    "in Lyon.")


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, InputLimits(max_tokens=48, max_question=12, max_sentence=30)])
def test_a_long_sentence_is_read_in_overlapping_windows_that_start_at_words_and_reach_its_end(limits):
    tokenizer = load_tokenizer()
    assert sentence_windows(tokenizer, ANSWER_SENTENCE, limits) == [(0, len(ANSWER_SENTENCE))]
    pieces = len(tokenizer.encode(LONG_SENTENCE, add_special_tokens=False).ids)
    assert pieces > limits.max_sentence
    windows = sentence_windows(tokenizer, LONG_SENTENCE, limits)
    assert len(windows) > 1 and windows[0][0] == 0 and windows[-1][1] == len(LONG_SENTENCE)
    for (start, end), (next_start, _) in zip(windows, windows[1:]):
        assert start < next_start < end  # they overlap
        assert LONG_SENTENCE[next_start - 1] == " "  # each starts at a word
    for start, end in windows:
        assert len(tokenizer.encode(LONG_SENTENCE[start:end], add_special_tokens=False).ids) <= limits.max_sentence
    glued = "x" * 400  # no word boundary anywhere: still windows, never past the end
    assert sentence_windows(tokenizer, glued, limits)[-1][1] == len(glued)
    slightly = " ".join(["word"] * (limits.max_sentence + 8))  # 8 pieces over: read whole, in one call
    assert sentence_windows(tokenizer, slightly, limits) == [(0, len(slightly))]
    assert len(sentence_windows(tokenizer, slightly + " word", limits)) > 1


def test_the_end_of_a_long_sentence_can_answer(model):
    """Cut at 64 pieces, the sentence never says where the meeting was; read in windows, its
    span is the city, at its place in the whole sentence."""
    question = "In which city did the expert committee hold its first meeting?"
    cut = AnswerModel(threads=1, float_blocks=model.float_blocks, windows=False)
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
    cut = AnswerModel(threads=1, float_blocks=model.float_blocks, windows=False)
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


TINY = {"data": [
    {"title": f"Article_{a}", "paragraphs": [
        {"context": f"Town {a}{p} was founded in {1800 + 10 * a + p} by Mary Smith. It has {100 + p} schools. "
                    f"The river Avon {a} runs through Town {a}{p}.",
         "qas": [{"id": f"q-{a}-{p}-0", "question": f"When was Town {a}{p} founded?",
                  "answers": [{"text": str(1800 + 10 * a + p), "answer_start": 0}]},
                 {"id": f"q-{a}-{p}-1", "question": f"How many schools does Town {a}{p} have?",
                  "answers": [{"text": str(100 + p), "answer_start": 0}]}]}
        for p in range(4)]}
    for a in range(6)]}


def test_the_data_builder_is_deterministic_and_holds_out_whole_articles():
    data = TINY["data"]
    train_ids, val_ids = answer_data.split_articles(len(data), 0.34, seed=3)
    assert val_ids and not set(train_ids) & set(val_ids) and sorted(train_ids + val_ids) == list(range(6))
    assert (train_ids, val_ids) == answer_data.split_articles(len(data), 0.34, seed=3)
    first = answer_data.build_pairs(data, train_ids, seed=3, paragraphs_per_article=3, swap_share=1.0)
    again = answer_data.build_pairs(data, train_ids, seed=3, paragraphs_per_article=3, swap_share=1.0)
    assert first == again and first
    assert {p.article for p in first} == set(train_ids)
    val = answer_data.build_pairs(data, val_ids, seed=4, validation=True)
    assert {p.article for p in val} == set(val_ids)
    for p in first + val:
        if p.kind == "pos":
            assert p.label == 1 and p.sentence[p.answer_start:p.answer_end] in ("".join(
                a["text"] for qa in data[p.article]["paragraphs"][int(p.qid.split("-")[2])]["qas"]
                if qa["id"] == p.qid for a in qa["answers"]))
        else:
            assert p.label == 0
    assert {"pos", "para", "hard"} <= {p.kind for p in first}


def test_negated_questions_contract_their_first_auxiliary_and_pair_with_the_answer_sentence():
    """--negation-share: a wh-question negated ("When was ...?" -> "When wasn't ...?"), paired with
    the answer sentence as a negative; questions without an early auxiliary, or already negative,
    are left alone; with the share at 0 no draw is made, so earlier versions' data stays the same."""
    negate = answer_data.negate_question
    assert negate("When was Town 12 founded?") == "When wasn't Town 12 founded?"
    assert negate("What year did the Normans arrive?") == "What year didn't the Normans arrive?"
    assert negate("How many schools does Town 3 have?") == "How many schools doesn't Town 3 have?"
    assert negate("Which ministry organised the meeting?") is None  # no auxiliary to contract
    assert negate("Who did not attend?") is None and negate("Who wasn't there?") is None
    assert negate("Town 3 was founded when?") is None  # not a wh-question
    data = TINY["data"]
    plain = answer_data.build_pairs(data, [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5)
    assert plain == answer_data.build_pairs(data, [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5,
                                            negation_share=0.0)
    negated = answer_data.build_pairs(data, [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5,
                                      negation_share=1.0)
    positives = {p.qid: p for p in negated if p.kind == "pos"}
    negatives = [p for p in negated if p.kind == "neg"]
    assert len(negatives) == len(positives)  # every TINY question has an auxiliary
    for p in negatives:
        assert p.label == 0 and p.sentence == positives[p.qid].sentence
        assert p.question == negate(positives[p.qid].question)
    val = answer_data.build_pairs(data, [2], seed=4, validation=True)
    with_negated = answer_data.build_pairs(data, [2], seed=4, validation=True, negation_share=0.5)
    assert with_negated[:len(val)] == val  # earlier versions' validation pairs come first, unchanged
    assert [p.kind for p in with_negated[len(val):]] == ["neg"] * sum(p.kind == "pos" for p in val)


def test_antonym_questions_turn_a_word_their_answer_sentence_says_into_its_opposite():
    """--antonym-share: "the largest" asked as "the smallest" of the sentence that says the
    largest, paired with it as a negative; a word the sentence does not say, one whose opposite it
    also says, a capitalised one (part of a name) or one inside the answer is left alone."""
    opposite = answer_data.antonym_question
    sentence = "Lyon is the largest city of the region, founded before the Romans came."
    assert opposite("What is the largest city of the region?", sentence, "Lyon") == (
        "What is the smallest city of the region?")
    assert opposite("What was founded before the Romans came?", sentence, "Lyon") == (
        "What was founded after the Romans came?")
    assert opposite("What is the largest city of the region?", sentence + " Vals is the smallest.", "Lyon") is None
    assert opposite("What is the oldest city of the region?", sentence, "Lyon") is None  # the sentence says no "oldest"
    assert opposite("Where is North Town?", "North Town lies in the north.", "in the north") is None
    assert opposite("Which city is largest?", "The largest city is Lyon.", "largest city") is None  # in the answer
    data = TINY["data"]
    plain = answer_data.build_pairs(data, [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5)
    assert plain == answer_data.build_pairs(data, [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5,
                                            antonym_share=0.0)  # no draw at 0: earlier data stays the same
    worded = {"data": [{"title": "Towns", "paragraphs": [
        {"context": "Town 1 is the largest town of the valley. It has 104 schools.",
         "qas": [{"id": "w-0-0", "question": "What is the largest town of the valley?",
                  "answers": [{"text": "Town 1", "answer_start": 0}]},
                 {"id": "w-0-1", "question": "How many schools does Town 1 have?",
                  "answers": [{"text": "104", "answer_start": 51}]}]}]}]}["data"]
    pairs = answer_data.build_pairs(worded, [0], seed=3, swap_share=0.0, antonym_share=1.0, questions_per_paragraph=2)
    made = [p for p in pairs if p.kind == "anto"]
    assert [(p.question, p.label, p.sentence) for p in made] == [
        ("What is the smallest town of the valley?", 0, "Town 1 is the largest town of the valley.")]
    val = answer_data.build_pairs(worded, [0], seed=4, validation=True)
    with_opposites = answer_data.build_pairs(worded, [0], seed=4, validation=True, antonym_share=0.5)
    assert with_opposites[:len(val)] == val  # earlier versions' validation pairs come first, unchanged
    assert [p.kind for p in with_opposites[len(val):]] == ["anto"]


def test_paraphrase_share_draws_the_question_that_shares_fewest_words_with_its_answer_sentence():
    """--paraphrase-share: for that share of paragraphs, the question whose words its answer
    sentence (or the headline) least says is among those drawn; at 0 no draw is made."""
    text = "The valley has 104 schools. Town 1 was built by the monks of Cluny in 1120."
    asked = [("How many schools does the valley have?", "104"),       # school, valley of 6 terms
             ("Who built Town 1?", "the monks of Cluny"),             # built, town, 1 of 4
             ("Which religious order founded the settlement?", "the monks of Cluny")]  # none of its 5
    qas = [{"id": f"p-0-0-{n}", "question": q, "answers": [{"text": a, "answer_start": text.find(a)}]}
           for n, (q, a) in enumerate(asked)]
    assert [answer_data.word_overlap(qa, text) for qa in qas] == [2 / 6, 3 / 4, 0.0]
    assert answer_data.word_overlap(qas[2], text, title="Religious orders") == 2 / 5  # the headline counts
    assert answer_data.word_overlap({**qas[0], "answers": [{"text": "missing", "answer_start": 0}]}, text) is None
    data = [{"title": "Valley", "paragraphs": [{"context": text, "qas": qas}]}]
    options = dict(swap_share=0.0, questions_per_paragraph=1)
    for seed in range(6):
        drawn = answer_data.build_pairs(data, [0], seed=seed, paraphrase_share=1.0, **options)
        assert [p.question for p in drawn if p.kind == "pos"] == [asked[2][0]]
    at_random = {p.question for seed in range(6)
                 for p in answer_data.build_pairs(data, [0], seed=seed, **options) if p.kind == "pos"}
    assert len(at_random) > 1
    plain = answer_data.build_pairs(TINY["data"], [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5)
    assert plain == answer_data.build_pairs(TINY["data"], [0, 1], seed=3, paragraphs_per_article=3, swap_share=0.5,
                                            paraphrase_share=0.0)  # no draw at 0: earlier data stays the same


def test_paragraph_negatives_can_be_the_sentences_closest_to_the_question():
    """--para-ranking bm25: the gold paragraph's other sentence that shares most words with the
    question (the one the engine's first stage offers beside the answer), whatever the seed."""
    data = TINY["data"]
    options = dict(paragraphs_per_article=4, questions_per_paragraph=2, swap_share=0.0, para_ranking="bm25")
    ranked = answer_data.build_pairs(data, [0, 1], seed=3, **options)
    assert ranked == answer_data.build_pairs(data, [0, 1], seed=3, **options)
    founded = [p for p in ranked if p.kind == "para" and p.question.startswith("When was")]
    assert len(founded) == 8  # one per question, every question of the two articles
    for p in founded:  # "Town 12" is in the question and in the river's sentence, not in the schools'
        assert p.sentence.startswith("The river Avon") and p.label == 0
    by_question = {p.qid: p.sentence for p in ranked if p.kind == "para"}
    again = answer_data.build_pairs(data, [0, 1], seed=5, **options)
    assert by_question == {p.qid: p.sentence for p in again if p.kind == "para"}
    drawn = answer_data.build_pairs(data, [0, 1], seed=3, **{**options, "para_ranking": "random"})
    assert {p.sentence for p in drawn if p.kind == "para" and p.question.startswith("When was")} != {
        p.sentence for p in founded}  # at random, some are the schools' sentence


def test_refusal_weighs_the_model_and_the_heuristic_relevance():
    from rag.answer.model import ModelVerdict, PairScore, select_by_model
    from rag.answer.select import ScoredSentence

    def verdict(probability: float, relevance: float) -> ModelVerdict:
        candidate = ScoredSentence(0, relevance, relevance, relevance, 0.0, 1.0, False)
        return ModelVerdict([candidate], [PairScore(probability, (0, 3), 0.9, 1.0, 1.0)])

    sure, unsure = verdict(0.95, 0.8), verdict(0.05, 0.2)
    assert 0 <= unsure.confidence < sure.confidence <= 1
    assert verdict(0.95, 0.5).confidence > verdict(0.05, 0.5).confidence  # the model's say counts
    assert verdict(0.5, 0.8).confidence > verdict(0.5, 0.2).confidence  # and so does the relevance
    vectors = np.eye(1, dtype=np.float32)
    threshold = (sure.confidence + unsure.confidence) / 2
    assert select_by_model(sure, sure.candidates, vectors, 3, threshold)
    assert not select_by_model(unsure, unsure.candidates, vectors, 3, threshold)
    assert ModelVerdict([], []).confidence == 0.0


def test_sentences_the_model_did_not_read_follow_by_the_heuristic_rule():
    from rag.answer.model import ModelVerdict, PairScore, select_by_model
    from rag.answer.select import RELATIVE_CUTOFF, ScoredSentence

    def scored(index: int, score: float) -> ScoredSentence:
        return ScoredSentence(index, score, score, score, 0.0, 1.0, False)

    first_stage = [scored(0, 0.80), scored(1, 0.79), scored(2, 0.78), scored(3, 0.77),
                   scored(4, RELATIVE_CUTOFF * 0.80 - 0.01)]
    # the model read the first two, and found only the second one answers
    verdict = ModelVerdict([first_stage[1], first_stage[0]], [PairScore(0.9, None, 0.0, 0.0, 0.0),
                                                               PairScore(0.1, None, 0.0, 0.0, 0.0)])
    vectors = np.eye(5, dtype=np.float32)
    chosen = [c.index for c in select_by_model(verdict, first_stage, vectors, 3, 0.0)]
    assert chosen == [1, 2, 3]  # not 0, which the model read and rejected; 4 scores too low
    assert [c.index for c in select_by_model(verdict, first_stage, vectors, 2, 0.0)] == [1, 2]
    vectors[2] = vectors[1]  # sentence 2 says what sentence 1 says
    assert [c.index for c in select_by_model(verdict, first_stage, vectors, 3, 0.0)] == [1, 3]


def test_refusal_figures():
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.5], [0.5]) == 0.5
    scores = [0.1 * i for i in range(10)]
    threshold = threshold_for_false_refusals(scores, 0.1)
    assert sum(s < threshold for s in scores) <= 1


def test_the_held_out_articles_are_written_as_a_squad_file_for_rag_eval(tmp_path):
    squad = tmp_path / "train.json"
    squad.write_text(json.dumps(TINY), encoding="utf-8")
    held_out = tmp_path / "val-squad.json"
    assert answer_data.main(["--squad", str(squad), "--out", str(tmp_path / "data"), "--seed", "3",
                             "--held-out", "0.34", "--val-squad", str(held_out)]) == 0
    _, val_ids = answer_data.split_articles(len(TINY["data"]), 0.34, seed=3)
    written = json.loads(held_out.read_text(encoding="utf-8"))["data"]
    assert written == [TINY["data"][a] for a in val_ids]
    val_pairs = answer_data.read_pairs(tmp_path / "data" / "val.jsonl")
    assert {written_article["title"] for written_article in written} == {
        TINY["data"][p.article]["title"] for p in val_pairs}


def test_limits_travel_in_the_model_file_metadata():
    limits = InputLimits(max_tokens=64, max_question=20, max_sentence=48)
    assert InputLimits.from_metadata(limits.metadata()) == limits
    assert InputLimits.from_metadata({"producer": "x"}) == DEFAULT_LIMITS  # files written before limits were


def test_a_model_file_carries_its_limits_and_calibration(tmp_path):
    from eval.export_answer_model import stamp
    from rag.answer.model import Calibration

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


def test_a_calibration_weighs_the_features_it_names_and_refuses_one_it_does_not_know():
    from rag.answer.model import Calibration, logit
    from rag.answer.select import ScoredSentence

    sentence = ScoredSentence(index=0, score=0.9, relevance=0.8, dense=0.3, lexical=0.9, passage=1.0, type_fit=False)
    meaning = Calibration(8.0, (0.5, 4.0, 1.0), -2.0, 0.5, ("best_logit", "dense", "lexical"))
    z = -2.0 + 0.5 * logit(0.7) + 4.0 * 0.3 + 1.0 * 0.9
    assert meaning.confidence([0.2, 0.7], sentence) == pytest.approx(1 / (1 + math.exp(-z)))
    # a sweep row's candidate (a dict) reads the same as the engine's ScoredSentence
    as_row = {"relevance": 0.8, "dense": 0.3, "lexical": 0.9, "passage": 1.0}
    assert meaning.confidence([0.2, 0.7], as_row) == meaning.confidence([0.2, 0.7], sentence)
    assert Calibration.from_metadata(meaning.metadata()) == meaning
    with pytest.raises(ValueError, match="one weight per feature"):
        Calibration(8.0, (0.5, 4.0), -2.0, 0.5, ("best_logit", "cosine"))
    with pytest.raises(ValueError, match="one weight per feature"):
        Calibration(8.0, (0.5,), -2.0, 0.5, ("best_logit", "dense"))


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
    out = tmp_path / "small.onnx"
    assert export_answer_model.main(["--run", str(small), "--data", str(data), "--out", str(out),
                                     "--val-pairs", "16", "--agreement-pairs", "16"]) == 0
    model = AnswerModel(out, threads=1)
    assert model.limits == InputLimits(max_tokens=48, max_sentence=30)
    scores = model.score(QUESTION, ["Title", "Title"], [ANSWER_SENTENCE, " ".join(["word"] * 80)])
    assert len(scores) == 2 and all(0 <= s.probability <= 1 for s in scores)


def test_per_article_draws_do_not_depend_on_the_number_of_workers():
    """--draws per-article: each article has its own random stream, so building articles in
    parallel gives the same pairs; --para-negatives -1 keeps every other sentence of the paragraph."""
    data = TINY["data"]
    options = dict(paragraphs_per_article=4, questions_per_paragraph=2, para_negatives=-1, hard_negatives=2,
                   swap_share=1.0, draws="per-article")
    alone = answer_data.build_pairs(data, [0, 2, 3, 5], seed=7, **options)
    assert alone == answer_data.build_pairs(data, [0, 2, 3, 5], seed=7, workers=2, **options)
    assert alone != answer_data.build_pairs(data, [0, 2, 3, 5], seed=8, **options)
    by_question = {}
    for p in alone:
        by_question.setdefault(p.qid, []).append(p)
    for qid, rows in by_question.items():
        paragraph = data[rows[0].article]["paragraphs"][int(qid.split("-")[2])]["context"]
        in_paragraph = [p for p in rows if p.kind in ("pos", "para")]
        assert len(in_paragraph) == len(answer_data.split_sentences(paragraph, 0, len(paragraph)))
        assert sum(p.kind == "hard" for p in rows) == 2
    with pytest.raises(ValueError):
        answer_data.build_pairs(data, [0], seed=1, draws="shuffled")


def test_listwise_batches_hold_whole_questions_with_the_answer_first():
    from eval.answer_data import Pair
    from eval.train_answer_model import group_plan, question_groups

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


def test_windows_can_be_turned_off_for_the_engine(tmp_path):
    """RAG_ANSWER_WINDOWS=0: only a sentence's first 64 word pieces are read (faster on long sentences)."""
    from rag.config import Settings
    from rag.service.lifecycle import load_answer_model

    assert load_answer_model(Settings(index=tmp_path)).windows is True
    assert load_answer_model(Settings(index=tmp_path, answer_windows=False)).windows is False
