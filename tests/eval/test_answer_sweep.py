"""eval/answer_sweep.py: sweep rows scored from a SQuAD file and from the own questions, and a stopped
sweep going on where it stopped."""

from __future__ import annotations

import json

import pytest

from eval import answer_fits, answer_sweep, datasets

from helpers import TOWNS_SQUAD as SQUAD


@pytest.mark.slow
def test_own_questions_become_sweep_rows_with_their_kinds(settings, embedder, tmp_path):
    """--own: an own question set scored over the seeds, answerable ones as "answerable" and the
    others as "unanswerable", each with its question kind, in the rows --by-coverage reads."""
    from rag.service.lifecycle import open_engine

    own = [json.loads(line) for line in open(datasets.OWN_QUESTIONS, encoding="utf-8")]
    picked = [q for q in own if q["kind"] == "factual"][:2] + [q for q in own if not q["answerable"]][:1]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in picked), encoding="utf-8")
    engine, _ = open_engine(settings.with_(answerer="model"), embedder)
    rows = answer_sweep.own_rows(engine, path, candidates=3)
    assert [(r["id"], r["kind"], r["question_kind"]) for r in rows] == [
        (picked[0]["id"], "answerable", "factual"), (picked[1]["id"], "answerable", "factual"),
        (picked[2]["id"], "unanswerable", picked[2]["kind"])]
    for r in rows:
        assert 1 <= len(r["candidates"]) <= 3 and all(0 <= c["p"] <= 1 for c in r["candidates"])
    assert any(c["hit"] for c in rows[0]["candidates"])  # a factual question's sentence is among its three
    report = answer_fits.coverage_report(rows)
    assert sum(b["questions"] for b in report.values()) == sum(any(c["hit"] for c in r["candidates"]) for r in rows[:2])


@pytest.mark.slow
def test_a_stopped_sweep_goes_on_where_it_stopped(tmp_path, monkeypatch):
    squad, out = tmp_path / "squad.json", tmp_path / "sweep.json"
    squad.write_text(json.dumps(SQUAD), encoding="utf-8")
    command = ["--squad", str(squad), "--sample", "3", "--no-gold", "2", "--candidates", "2", "--out", str(out)]
    assert answer_sweep.main(command) == 0
    full = json.loads(out.read_text())
    journal = tmp_path / "sweep.json.progress.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) == 1 + len(full)  # the header, then every row as it was scored
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][:30])  # stopped while writing the third
    scored = []
    row = answer_sweep._row
    monkeypatch.setattr(answer_sweep, "_row", lambda engine, suite, q, n, kind: scored.append((kind, q.id)) or
                        row(engine, suite, q, n, kind))
    assert answer_sweep.main([*command, "--resume"]) == 0
    assert scored == [(r["kind"], r["id"]) for r in full[2:]]
    assert json.loads(out.read_text()) == full


@pytest.mark.slow
def test_outside_sample_draws_none_of_the_questions_rag_eval_scores(tmp_path):
    """--outside-sample N: rows for fitting a refusal come from questions other than the N that
    `rag eval --sample N` reports on, so the held-out figures are not the fitted ones."""
    squad, out = tmp_path / "squad.json", tmp_path / "sweep.json"
    squad.write_text(json.dumps(SQUAD), encoding="utf-8")
    questions, _ = datasets.load_squad(squad, tmp_path / "corpus")
    reported = {q.id for q in datasets.sample(questions, 1)}
    assert answer_sweep.main(["--squad", str(squad), "--outside-sample", "1", "--sample", "5", "--no-gold", "0",
                              "--swapped", "0", "--antonym", "0", "--candidates", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert sorted(r["id"] for r in rows) == sorted(q.id for q in questions if q.id not in reported)
    assert all("span_logit" in c for r in rows for c in r["candidates"])
