"""The answer model's training data (eval/answer_data.py): deterministic draws, held-out articles,
negated, antonym and least-overlapping questions, paragraph negatives."""

from __future__ import annotations

import json

import pytest

from eval import answer_data, question_rewrites

from helpers import TINY_SQUAD as TINY


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
    negate = question_rewrites.negate_question
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
    opposite = question_rewrites.antonym_question
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
