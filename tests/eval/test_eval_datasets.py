"""The question sets: the project's own file, and SQuAD / BEIR turned into a corpus of bulletin files."""

import json

import pytest

from eval.datasets import OWN_QUESTIONS, load_beir, load_questions, load_squad, normalize_ws, sample
from rag.errors import CorpusError
from rag.ingest.bulletins import split_bulletins

from helpers import SEED_FILE

SEED_TEXT = normalize_ws(SEED_FILE.read_bytes().decode("utf-8"))
ROWS = [json.loads(line) for line in OWN_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_answer_occurs_verbatim_in_the_seeds():
    for row in ROWS:
        for answer in row["answers"]:
            assert normalize_ws(answer) in SEED_TEXT, (row["id"], answer)


def test_question_set_shape_and_coverage():
    titles = {b.title for b in split_bulletins(SEED_FILE.read_bytes().decode("utf-8"), "seeds")}
    assert len(ROWS) >= 60 and len({r["id"] for r in ROWS}) == len(ROWS)
    for row in ROWS:
        assert set(row) >= {"id", "question", "answers", "answerable", "bulletin"}
        assert row["answerable"] == bool(row["answers"]), row["id"]
        assert (row["bulletin"] in titles) if row["answerable"] else row["bulletin"] is None, row["id"]
        assert set(row.get("also", [])) <= titles
        assert row.get("near") in titles if row["kind"] == "unanswerable-near" else "near" not in row
    assert {r["bulletin"] for r in ROWS if r["answerable"]} == titles  # every bulletin is asked about
    kinds = {r["kind"] for r in ROWS}
    assert {"factual", "list", "paraphrase", "multi", "unanswerable-near", "unanswerable-far"} <= kinds
    assert len(ROWS) >= 100 and sum(r["kind"] == "paraphrase" for r in ROWS) >= 25
    assert sum(r["kind"] == "unanswerable-near" for r in ROWS) >= 25
    questions = load_questions(OWN_QUESTIONS)
    two = next(q for q in questions if q.kind == "multi")
    assert len(two.relevant) == 2  # the main bulletin and the one in "also"


ZH_FILE = OWN_QUESTIONS.parent / "questions-zh.jsonl"
ZH_ROWS = [json.loads(line) for line in ZH_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_chinese_set_asks_in_chinese_for_english_answers_in_the_seeds():
    titles = {b.title for b in split_bulletins(SEED_FILE.read_bytes().decode("utf-8"), "seeds")}
    assert len(ZH_ROWS) >= 60 and len({r["id"] for r in ZH_ROWS}) == len(ZH_ROWS)
    assert not {r["id"] for r in ZH_ROWS} & {r["id"] for r in ROWS}  # one suite can hold both sets
    for row in ZH_ROWS:
        assert row["lang"] == "zh" and any("\u4e00" <= ch <= "\u9fff" for ch in row["question"]), row["id"]
        assert row["answerable"] == bool(row["answers"]), row["id"]
        assert (row["bulletin"] in titles) if row["answerable"] else row["bulletin"] is None, row["id"]
        assert row.get("near") in titles if row["kind"] == "unanswerable-near" else "near" not in row
        for answer in row["answers"]:
            assert normalize_ws(answer) in SEED_TEXT, (row["id"], answer)
    assert {r["bulletin"] for r in ZH_ROWS if r["answerable"]} == titles
    assert sum(not r["answerable"] for r in ZH_ROWS) >= 20
    assert {q.lang for q in load_questions(ZH_FILE)} == {"zh"} and {q.lang for q in load_questions(OWN_QUESTIONS)} == {"en"}


def test_squad_becomes_one_bulletin_file_per_paragraph(tmp_path):
    data = {"version": "v2.0", "data": [{"title": "Super_Bowl_50", "paragraphs": [
        {"context": "Super Bowl 50 was played\non February 7, 2016.", "qas": [
            {"id": "a", "question": "When?", "answers": [{"text": "February 7, 2016", "answer_start": 25},
                                                         {"text": "February 7, 2016", "answer_start": 25}]},
            {"id": "b", "question": "Who sang?", "answers": [], "is_impossible": True}]},
        {"context": "Denver won.", "qas": [{"id": "c", "question": "Who won?",
                                             "answers": [{"text": "Denver", "answer_start": 0}]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data))
    questions, keys = load_squad(path, tmp_path / "corpus")
    assert sorted(keys) == ["p000-000.txt", "p000-001.txt"]
    text = (tmp_path / "corpus" / "p000-000.txt").read_text()
    assert text == "Super Bowl 50\n\nSuper Bowl 50 was played on February 7, 2016.\n"
    assert [b.title for b in split_bulletins(text, "x")] == ["Super Bowl 50"]
    a, b, c = questions
    assert a.answers == ("February 7, 2016",) and a.answerable and a.relevant == {"p000-000": 1.0}
    assert not b.answerable and b.relevant == {}
    assert c.relevant == {"p000-001": 1.0}


def test_beir_keeps_queries_with_a_relevant_document(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in [
        {"_id": "Global warming:14", "title": "Global warming", "text": "Coral reefs suffer."},
        {"_id": "Sea:2", "title": "Sea.", "text": "The sea rises."}]) + "\n")
    (folder / "queries.jsonl").write_text('{"_id": "0", "text": "reefs"}\n{"_id": "1", "text": "nothing"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n0\tGlobal warming:14\t1\n1\tSea:2\t0\n")
    questions, keys = load_beir(folder, tmp_path / "corpus")
    assert keys == {"d000000.txt": "Global warming:14", "d000001.txt": "Sea:2"}
    assert (tmp_path / "corpus" / "d000001.txt").read_text().startswith("Sea\n\n")  # a title reads as a headline
    assert [(q.id, q.relevant) for q in questions] == [("0", {"Global warming:14": 1.0})]


def test_sample_is_reproducible_and_all_by_default():
    questions = load_questions(OWN_QUESTIONS)
    assert sample(questions, None) == questions
    assert sample(questions, 10) == sample(questions, 10) != questions[:10]
    assert len(sample(questions, 10)) == 10


def test_an_empty_question_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "questions.jsonl"
    empty.write_text("\n")
    with pytest.raises(CorpusError, match="holds no questions"):
        load_questions(empty)
