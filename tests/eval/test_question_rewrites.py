"""Questions made unanswerable for rag eval and the sweep (eval/question_rewrites.py): swapped and antonym questions."""

from __future__ import annotations

import json

from eval import datasets, question_rewrites

from helpers import TOWNS_SQUAD as SQUAD


def _swapped_in(original: str, swapped: str) -> tuple[str, str]:
    """The words of ``original`` that ``swapped`` replaced, and the words that replaced them."""
    a, b = original.rstrip("?").split(), swapped.rstrip("?").split()
    head = next(i for i, (x, y) in enumerate(zip(a + [""], b + [""])) if x != y)
    tail = next(i for i, (x, y) in enumerate(zip(a[::-1] + [""], b[::-1] + [""])) if x != y or i >= len(a) - head)
    return " ".join(a[head:len(a) - tail]), " ".join(b[head:len(b) - tail])


def test_a_swapped_question_names_another_entity_of_the_article_that_its_answer_sentence_does_not(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    questions, _ = datasets.load_squad(path, tmp_path / "corpus")
    by_id = {q.id: q for q in questions}
    article = " ".join(p["context"] for p in SQUAD["data"][0]["paragraphs"])
    answer_sentences = {"a": "Town 11 was founded in 1811 by Mary Smith.", "c": "Town 12 has 104 schools."}
    seen = set()
    for seed in range(6):
        swapped = question_rewrites.swapped_questions(path, questions, seed=seed)
        assert swapped == question_rewrites.swapped_questions(path, questions, seed=seed)  # the seed decides
        # "b": its answer sentence says no entity of the question, so nothing to swap
        assert [q.id for q in swapped] == ["a-swapped", "c-swapped"]
        for q in swapped:
            original = by_id[q.id.removesuffix("-swapped")]
            assert not q.answerable and not q.answers and q.kind == "swapped"
            assert q.relevant == original.relevant  # asked with the gold paragraph in the corpus
            replaced, replacement = _swapped_in(original.text, q.text)
            sentence = answer_sentences[original.id]
            assert replaced in sentence and replacement in article and replacement not in sentence
            seen.add(q.text)
    assert len(seen) > 2  # the seed draws which entity and which replacement


def test_antonym_questions_are_the_sampled_ones_an_opposite_makes_unanswerable(tmp_path):
    squad = {"data": [{"title": "Towns", "paragraphs": [
        {"context": "Town 1 is the largest town of the valley. It has 104 schools.",
         "qas": [{"id": "a", "question": "What is the largest town of the valley?",
                  "answers": [{"text": "Town 1", "answer_start": 0}]},
                 {"id": "b", "question": "How many schools does Town 1 have?",
                  "answers": [{"text": "104", "answer_start": 51}]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    questions, _ = datasets.load_squad(path, tmp_path / "corpus")
    made = question_rewrites.antonym_questions(path, questions)
    assert [(q.id, q.text, q.kind, q.answerable) for q in made] == [
        ("a-antonym", "What is the smallest town of the valley?", "antonym", False)]
    assert made[0].relevant == next(q for q in questions if q.id == "a").relevant  # asked with its paragraph there
