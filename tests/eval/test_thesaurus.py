"""The WordNet reader and the reworded training questions made with it (eval.thesaurus,
eval.question_rewrites.reworded_question), over a small folder in WordNet 3.0's own file format."""

from __future__ import annotations

import random

import pytest

from eval import answer_data, question_rewrites
from eval.thesaurus import Thesaurus, wordnet_folder

LICENCE = "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"

# index.POS: lemma pos synsets pointers [pointer symbols] senses tagged-senses offsets (most frequent first)
INDEX = {
    "noun": ["city n 1 1 @ 1 4 00000100", "metropolis n 1 1 @ 1 2 00000100", "urban_center n 1 1 @ 1 0 00000100",
             "urbs n 1 1 @ 1 0 00000100",
             "time n 2 1 @ 2 9 00000200 00000300", "clip n 2 1 @ 2 5 00000400 00000200",
             "country n 1 1 @ 1 5 00000500", "nation n 1 1 @ 1 4 00000500",
             "hold n 1 1 @ 1 1 00000600", "keep n 1 1 @ 1 1 00000600"],
    "verb": ["hold v 2 1 @ 2 20 00000700 00000800", "keep v 1 1 @ 1 9 00000700"],
    "adj": [],
    "adv": [],
}
# data.POS: offset lexicographer-file type word-count(hex) [word lex-id] ... | gloss
DATA = {
    "noun": ["00000100 15 n 04 city 0 metropolis 0 urban_center 0 urbs 0 000 | a large town",
             "00000200 28 n 02 time 0 clip 0 000 | an occasion",
             "00000300 28 n 01 time 1 000 | the continuum",
             "00000400 06 n 02 clip 1 film_clip 0 000 | a short film",
             "00000500 14 n 02 country 0 nation 0 000 | a politically organized people",
             "00000600 04 n 02 hold 0 keep 0 000 | a ship's hold"],
    "verb": ["00000700 35 v 02 hold 0 keep 0 000 | keep in the hands", "00000800 35 v 01 hold 1 000 | contain"],
    "adj": [],
    "adv": [],
}


@pytest.fixture
def folder(tmp_path):
    for pos in INDEX:
        (tmp_path / f"index.{pos}").write_text(LICENCE + "".join(line + "  \n" for line in INDEX[pos]))
        (tmp_path / f"data.{pos}").write_text(LICENCE + "".join(line + "  \n" for line in DATA[pos]))
    return tmp_path


@pytest.fixture
def thesaurus(folder) -> Thesaurus:
    return Thesaurus(folder)


def test_a_word_gets_the_common_words_whose_own_first_sense_is_its_first_sense(thesaurus, folder):
    assert thesaurus.synonyms("city") == ["metropolis"]  # urban center and urbs: never seen in the tagged corpus
    assert thesaurus.synonyms("Country") == ["nation"] and thesaurus.synonyms("nation") == ["country"]
    assert thesaurus.synonyms("time") == []  # "clip" most often means a short film, not an occasion
    assert thesaurus.synonyms("hold") == []  # mostly a verb: verbs would need their inflection
    assert "keep" not in thesaurus and thesaurus.synonyms("unknown") == []
    assert Thesaurus(folder, common=0).synonyms("city") == ["metropolis", "urban center", "urbs"]
    assert Thesaurus(folder, pos=("noun", "verb")).synonyms("hold") == ["keep"]


def test_a_question_is_reworded_where_it_says_its_answer_sentences_words(thesaurus):
    reword = question_rewrites.reworded_question
    sentence = "Lyon is the city with the most countries of origin."
    rng = random.Random(0)
    assert reword("Which city has the most countries of origin?", sentence, "Lyon", thesaurus, rng) == (
        "Which metropolis has the most nations of origin?")
    assert reword("Which city is in the country?", "Lyon is a town.", "Lyon", thesaurus, rng) is None  # not said
    assert reword("Which city is it?", "The city is Lyon City.", "Lyon City", thesaurus, rng) is None  # answer's word
    assert reword("Which City Hall is it?", "City Hall is in Lyon.", "Lyon", thesaurus, rng) is None  # a name
    assert reword("What time is it?", "The time is noon.", "noon", thesaurus, rng) is None  # no synonym


def test_reworded_questions_keep_their_answer_and_negatives_and_are_not_drawn_at_share_zero(thesaurus, monkeypatch):
    monkeypatch.setattr(answer_data, "_THESAURUS", thesaurus)
    text = "Lyon is the city with the most countries of origin. It has 104 schools. The river is long."
    question = "Which city has the most countries of origin?"
    data = [{"title": "Towns", "paragraphs": [{"context": text, "qas": [
        {"id": "t-0", "question": question, "answers": [{"text": "Lyon", "answer_start": 0}]}]}]}]
    options = dict(swap_share=0.0, questions_per_paragraph=1, para_negatives=-1)
    plain = answer_data.build_pairs(data, [0], seed=1, **options)
    assert plain == answer_data.build_pairs(data, [0], seed=1, synonym_share=0.0, **options)
    pairs = answer_data.build_pairs(data, [0], seed=1, synonym_share=1.0, **options)
    assert pairs[:len(plain)] == plain
    reworded = pairs[len(plain):]
    assert {p.question for p in reworded} == {"Which metropolis has the most nations of origin?"}
    assert {p.qid for p in reworded} == {"t-0:syn"}
    assert [(p.kind, p.label, p.sentence) for p in reworded] == [
        ("syn", 1, plain[0].sentence), *(("para", 0, p.sentence) for p in plain[1:])]
    first = reworded[0]
    assert first.sentence[first.answer_start:first.answer_end] == "Lyon"


def test_without_the_train_extra_the_missing_wordnet_is_named(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install -e '\.\[train\]'"):
        wordnet_folder()
