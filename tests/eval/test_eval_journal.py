"""`rag eval --resume`: a stopped run goes on from its journal, and only with the same options."""

import json

import pytest

from eval import run as eval_run
from eval.journal import FILE_NAME, Journal
from eval.run import EvalOptions
from rag.errors import RagError

HEADER = {"options": {"mode": "hybrid", "limit": "4"}, "settings": {"top_k": "5"}}


def test_a_resumed_journal_has_the_records_written_before_and_drops_a_partial_last_line(tmp_path):
    with Journal(tmp_path / FILE_NAME, HEADER, resume=False) as journal:
        journal.add("own", "hybrid", "Q1?", {"id": "q1", "hit": True})
        journal.add("own", "hybrid", "Q2?", {"id": "q2", "hit": False})
    path = tmp_path / FILE_NAME
    path.write_text(path.read_text() + '{"suite": "own", "column": "hyb')  # killed while writing q3
    with Journal(tmp_path / FILE_NAME, HEADER, resume=True) as journal:
        assert journal.get("own", "hybrid", "q2", "Q2?") == {"id": "q2", "hit": False}
        assert journal.get("own", "hybrid", "q3", "Q3?") is None and journal.get("own", "dense", "q1", "Q1?") is None
        assert journal.get("own", "hybrid", "q1", "Another question with the same id?") is None
        journal.add("own", "hybrid", "Q3?", {"id": "q3", "hit": True})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["record"]["id"] for r in rows[1:]] == ["q1", "q2", "q3"]


def test_without_resume_a_new_journal_starts(tmp_path):
    with Journal(tmp_path / FILE_NAME, HEADER, resume=False) as journal:
        journal.add("own", "hybrid", "Q1?", {"id": "q1"})
    with Journal(tmp_path / FILE_NAME, HEADER, resume=False) as journal:
        assert not journal.done
    assert len((tmp_path / FILE_NAME).read_text().splitlines()) == 1


@pytest.mark.parametrize("text, message", [
    ("", "not a rag eval journal"),
    ('[1, 2]\n', "not a rag eval journal"),
    ('{"header": ' + json.dumps(HEADER) + '}\nnot json\n{"suite": "own"}\n', "damaged"),
    ('{"header": ' + json.dumps(HEADER) + '}\n{"suite": "own"}\n', "damaged"),
])
def test_a_journal_that_is_not_one_is_refused_with_a_clear_error(tmp_path, text, message):
    (tmp_path / FILE_NAME).write_text(text)
    with pytest.raises(RagError, match=message):
        Journal(tmp_path / FILE_NAME, HEADER, resume=True)


def test_other_options_are_named_and_refused(tmp_path):
    Journal(tmp_path / FILE_NAME, HEADER, resume=False).close()
    other = {"options": {"mode": "all", "limit": "4"}, "settings": {"top_k": "8"}}
    with pytest.raises(RagError, match="other mode, top_k"):
        Journal(tmp_path / FILE_NAME, other, resume=True)


@pytest.mark.slow
def test_a_stopped_eval_goes_on_where_it_stopped(tmp_path, settings, embedder, monkeypatch):
    options = EvalOptions(out=tmp_path / "out", limit=5, answerers="model")
    assert eval_run.run(options, settings, embedder) == 0
    full = [json.loads(line) for line in (tmp_path / "out" / "details.jsonl").read_text().splitlines()]
    journal = tmp_path / "out" / FILE_NAME
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])  # stopped while writing the third question
    asked = []
    evaluate = eval_run.evaluate_question
    monkeypatch.setattr(eval_run, "evaluate_question", lambda engine, suite, q, *a: asked.append(q.id) or
                        evaluate(engine, suite, q, *a))
    assert eval_run.run(EvalOptions(out=tmp_path / "out", limit=5, answerers="model", resume=True),
                        settings, embedder) == 0
    assert asked == [r["id"] for r in full[2:]]  # only the three not written down
    resumed = [json.loads(line) for line in (tmp_path / "out" / "details.jsonl").read_text().splitlines()]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "latency_ms"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(full)
    with pytest.raises(RagError, match="other limit"):
        eval_run.run(EvalOptions(out=tmp_path / "out", limit=4, answerers="model", resume=True), settings, embedder)


def test_a_report_folder_that_cannot_be_made_is_said_before_any_question(tmp_path, capsys):
    from rag.cli import main

    taken = tmp_path / "report.md"
    taken.write_text("not a folder")
    assert main(["eval", "--limit", "1", "--out", str(taken)]) == 2
    assert capsys.readouterr().err.strip() == f"rag: error: --out {taken} is a file: give the folder the report goes into"
