"""A small end-to-end `rag eval` run: a few questions on the seeds, and tiny SQuAD and BEIR sets."""

import json
from pathlib import Path

import pytest

from eval import run as eval_run
from eval.datasets import OWN_QUESTIONS
from eval.run import EvalOptions

pytestmark = pytest.mark.slow

PICKED = ("q001", "q004", "q038", "q133")  # committee meeting date, its leader, Interlaken; the World Cup


def args(tmp_path, questions=(), **changes):
    """The options `rag eval` builds; ``questions``: one question file or several."""
    questions = (questions,) if isinstance(questions, Path) else tuple(questions)
    return EvalOptions(questions=questions, out=tmp_path / "out", **changes)


@pytest.fixture
def few_questions(tmp_path):
    rows = [line for line in OWN_QUESTIONS.read_text(encoding="utf-8").splitlines()
            if json.loads(line)["id"] in PICKED]
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_eval_on_own_questions_writes_the_report(tmp_path, few_questions, settings, embedder, capsys):
    code = eval_run.run(args(tmp_path, questions=few_questions, mode="all", calibrate=True), settings, embedder)
    assert code == 0
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.png").read_bytes().startswith(b"\x89PNG")
    assert "| answer hit |" in (out / "report.md").read_text()
    own = report["suites"]["own"]
    assert set(own["modes"]) == {"hybrid", "dense", "bm25"}
    for m in own["modes"].values():
        assert m["citation_validity"] == 1.0 and m["n"] == 4
        assert m["hit"] >= 2 / 3 and m["recall@5"] == 1.0
    assert 0 < report["calibration"]["by_mode"]["hybrid"]["threshold"] < 1
    assert set(report["calibration"]["by_mode"]["hybrid"]["loo"]) == {"accuracy", "precision", "recall", "f1"}
    assert len((out / "details.jsonl").read_text().splitlines()) == 12
    printed = capsys.readouterr().out
    assert "citation validity" in printed and "calibrated abstain_threshold" in printed


def test_a_broken_citation_fails_the_run(tmp_path, few_questions, settings, embedder, monkeypatch):
    monkeypatch.setattr(eval_run.metrics, "citation_is_valid", lambda *a: False)
    assert eval_run.run(args(tmp_path, questions=few_questions, limit=1), settings, embedder) == 1


def test_squad_and_beir_are_indexed_in_a_temporary_folder(tmp_path, settings, embedder):
    before = sorted(p.name for p in settings.index.iterdir()) if settings.index.exists() else []
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"title": "Denver_Broncos", "paragraphs": [
        {"context": "The Denver Broncos won Super Bowl 50 in Santa Clara, California, on February 7, 2016.",
         "qas": [{"id": "s1", "question": "Where was Super Bowl 50 played?",
                  "answers": [{"text": "Santa Clara, California", "answer_start": 39}]}]},
        {"context": "The Amazon rainforest covers much of the Amazon basin of South America.",
         "qas": [{"id": "s2", "question": "What covers the Amazon basin?",
                  "answers": [{"text": "The Amazon rainforest", "answer_start": 0}]}]}]}]}))
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        '{"_id": "Sea:1", "title": "Sea", "text": "Sea levels rise as oceans warm."}\n'
        '{"_id": "Bee:7", "title": "Bee", "text": "Bees pollinate flowering plants."}\n')
    (beir / "queries.jsonl").write_text('{"_id": "q", "text": "Warming oceans raise the sea level"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\tSea:1\t1\n")
    assert eval_run.run(args(tmp_path, squad=squad, beir=beir, squad_remove_gold=True), settings, embedder) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["suites"]) == {"squad", "squad-no-gold", "beir"}
    # "right": with its paragraph, answered with the gold answer first; without it, refused
    rows = [json.loads(line) for line in (tmp_path / "out" / "details.jsonl").read_text().splitlines()]
    right = [r["hit1"] and not r["abstained"] if r["suite"] == "squad" else r["abstained"]
             for r in rows if r["suite"] in ("squad", "squad-no-gold")]
    assert len(right) == 4 and report["squad_right"] == {"hybrid": sum(right) / 4}
    assert report["suites"]["squad-no-gold"]["modes"]["hybrid"]["right"] == report["suites"]["squad-no-gold"][
        "modes"]["hybrid"]["abstention_recall"]
    assert "right over the SQuAD questions with and without" in (tmp_path / "out" / "report.md").read_text()
    assert report["suites"]["squad"]["modes"]["hybrid"]["recall@1"] == 1.0
    assert report["suites"]["squad"]["modes"]["hybrid"]["citation_validity"] == 1.0
    assert report["suites"]["beir"]["modes"]["hybrid"]["ndcg@10"] == 1.0
    assert "hit" not in report["suites"]["beir"]["modes"]["hybrid"]  # retrieval only
    after = sorted(p.name for p in settings.index.iterdir()) if settings.index.exists() else []
    assert after == before  # the configured index was not touched


def test_several_question_files_are_one_suite_reported_by_language(tmp_path, few_questions, settings, embedder):
    chinese = tmp_path / "zh.jsonl"
    picked = [line for line in (OWN_QUESTIONS.parent / "questions-zh.jsonl").read_text(encoding="utf-8").splitlines()
              if json.loads(line)["id"] in ("zh004", "zh072")]
    chinese.write_text("\n".join(picked) + "\n", encoding="utf-8")
    code = eval_run.run(args(tmp_path, questions=[few_questions, chinese], calibrate=True), settings, embedder)
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    own = report["suites"]["own"]
    assert own["questions"] == 6 and set(own["by_lang"]["hybrid"]) == {"en", "zh"}
    assert own["by_lang"]["hybrid"]["zh"]["n"] == 2
    assert set(report["calibration"]["by_mode"]["hybrid"]["by_lang"]) == {"en", "zh"}
    assert "By language, hybrid" in (tmp_path / "out" / "report.md").read_text()


def test_swapped_and_antonym_squad_questions_are_asked_with_their_paragraph_and_count_as_unanswerable(
        tmp_path, settings, embedder):
    """--squad-swapped and --squad-antonym: each sampled question that a swap (an entity its answer
    sentence says, swapped for another of the article) or an opposite ("largest" -> "smallest")
    can make unanswerable is asked again; refusing it is right."""
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"title": "Super_Bowl", "paragraphs": [
        {"context": "The Denver Broncos won Super Bowl 50 in Santa Clara, California, on February 7, 2016.",
         "qas": [{"id": "s1", "question": "Where did the Denver Broncos win Super Bowl 50?",
                  "answers": [{"text": "Santa Clara, California", "answer_start": 39}]}]},
        {"context": "The Seattle Seahawks won Super Bowl 48 in New Jersey.",
         "qas": [{"id": "s2", "question": "What covers the Amazon basin?",  # no entity of its sentence: no swap
                  "answers": [{"text": "Seattle Seahawks", "answer_start": 4}]}]},
        {"context": "Levi's Stadium is the largest stadium of the bay.",
         "qas": [{"id": "s3", "question": "What is the largest stadium of the bay?",  # an opposite, no swap
                  "answers": [{"text": "Levi's Stadium", "answer_start": 0}]}]}]}]}))
    assert eval_run.run(args(tmp_path, squad=squad, squad_swapped=True, squad_antonym=True,
                             answerers="heuristic,model"), settings, embedder) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["suites"]) == {"squad", "squad-swapped", "squad-antonym"}
    rows = [json.loads(line) for line in (tmp_path / "out" / "details.jsonl").read_text().splitlines()]
    for suite, made in (("squad-swapped", "s1-swapped"), ("squad-antonym", "s3-antonym")):
        assert report["suites"][suite]["questions"] == 1
        for column in ("hybrid+heuristic", "hybrid+model"):
            figures = report["suites"][suite]["modes"][column]
            assert figures["n"] == 1 and figures["false_abstention_rate"] is None  # nothing answerable in it
            assert figures["abstention_recall"] in (0.0, 1.0) and figures["citation_validity"] in (None, 1.0)
        asked = [r for r in rows if r["suite"] == suite]
        assert {r["id"] for r in asked} == {made} and not any(r["answerable"] for r in asked)
        assert all("recall@1" in r for r in asked)  # its paragraph is in the corpus, and scored as the one to find
