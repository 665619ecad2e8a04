"""Swapped and antonym questions (eval/answer_data.py), the refusal eval/answer_sweep.py fits against
them, and its reports on saved rows (by coverage; the own questions' rows)."""

from __future__ import annotations

import json
import random

import pytest

from eval import answer_sweep, datasets, question_rewrites

SQUAD = {"data": [
    {"title": "Rivers", "paragraphs": [
        {"context": "Town 11 was founded in 1811 by Mary Smith. The river Avon runs through Town 11.",
         "qas": [{"id": "a", "question": "Who founded Town 11 in 1811?",
                  "answers": [{"text": "Mary Smith", "answer_start": 30}]},
                 {"id": "b", "question": "Which river runs through the town?",
                  "answers": [{"text": "Avon", "answer_start": 57}]}]},
        {"context": "Town 12 was founded in 1812 by John Brown. Town 12 has 104 schools.",
         "qas": [{"id": "c", "question": "How many schools does Town 12 have?",
                  "answers": [{"text": "104", "answer_start": 50}]}]}]}]}


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


def _rows(kind: str, n: int, p: float, relevance: float, rng: random.Random) -> list[dict]:
    return [{"id": f"{kind}{i}", "answers": [], "no_gold": kind != "answerable", "kind": kind,
             "candidates": [{"p": min(max(p + rng.gauss(0, 0.15), 0.01), 0.99),
                             "relevance": relevance + rng.gauss(0, 0.08), "score": relevance, "hit": False,
                             "span": None, "span_conf": 0.0}]} for i in range(n)]


def test_a_refusal_fitted_against_swapped_questions_leans_on_the_model():
    """Removed-gold questions find little that matches; swapped ones find their topic's sentence
    (high relevance) that the model rejects. Fitted against both, the refusal leans on the model."""
    rng = random.Random(0)
    rows = (_rows("answerable", 300, 0.75, 0.7, rng) + _rows("removed", 150, 0.15, 0.45, rng)
            + _rows("swapped", 150, 0.15, 0.7, rng))
    old = ("best_logit", "relevance")  # the best logit and the relevance, as fitted until 2026-12-02
    removed_only = answer_sweep.abstention_report(rows, rows, 2, 8.0, kinds=("removed",), feature_names=old)
    both = answer_sweep.abstention_report(rows, rows, 2, 8.0, kinds=("removed", "swapped"), feature_names=old)
    # fitted without them, the swapped questions' refusal is still reported at the same threshold
    assert removed_only["fit learned"]["refused_swapped_at_10pct"] < both["fit learned"]["refused_swapped_at_10pct"]
    assert both["fit learned"]["refused_swapped_at_10pct"] > 0.8
    assert both["fit learned"]["refused_removed_at_10pct"] > 0.8
    # the weight of the model's logit against the relevance grows once swapped questions are seen
    ratio = [r["weights"][0] / r["weights"][1] for r in (removed_only, both)]
    assert ratio[1] > ratio[0]
    # rows saved before kinds existed read as answerable or removed
    old = [{k: v for k, v in r.items() if k != "kind"} for r in rows if r["kind"] != "swapped"]
    assert {answer_sweep.kind_of(r) for r in old} == {"answerable", "removed"}


def test_the_coverage_report_gives_the_answer_sentences_median_probability_per_quarter():
    """--by-coverage: per quarter of the question's rare words that the first candidate holding a
    gold answer says, how many answerable questions and that candidate's median probability;
    questions without such a candidate and unanswerable rows are left out."""
    def row(kind, *candidates):
        return {"kind": kind, "no_gold": kind != "answerable",
                "candidates": [{"hit": hit, "lexical": lexical, "p": p} for hit, lexical, p in candidates]}

    rows = [row("answerable", (False, 0.9, 0.8), (True, 0.1, 0.2)),   # the first holding the answer counts
            row("answerable", (True, 0.2, 0.4)),
            row("answerable", (True, 0.8, 0.9), (True, 0.1, 0.1)),
            row("answerable", (True, 0.75, 0.7)),                      # a bucket's lower edge belongs to it
            row("answerable", (False, 0.5, 0.9)),                      # no candidate holds the answer
            row("removed", (True, 0.1, 0.99))]
    assert answer_sweep.coverage_report(rows) == {
        "coverage 0-0.25": {"questions": 2, "median_probability": 0.3},
        "coverage 0.25-0.5": {"questions": 0, "median_probability": None},
        "coverage 0.5-0.75": {"questions": 0, "median_probability": None},
        "coverage 0.75-1": {"questions": 2, "median_probability": 0.8}}


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
    report = answer_sweep.coverage_report(rows)
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


def test_the_stored_threshold_refuses_what_the_fit_allows_through_the_engines_own_confidence():
    """The written calibration, applied the way the engine applies it (rounded weights, then
    ``Calibration.confidence`` below ``threshold``), refuses exactly 10% of the fit's answerable
    questions; a threshold at a question's own score, rounded up, refused one more."""
    from rag.answer.calibration import Calibration

    rng = random.Random(0)  # a draw where the old rule (the score at the quantile, rounded) refused 49
    rows = _rows("answerable", 487, 0.7, 0.65, rng) + _rows("removed", 200, 0.2, 0.45, rng)
    fitted = answer_sweep.abstention_report(rows, rows, 2, 8.0, kinds=("removed",),
                                           feature_names=("best_logit", "relevance"))
    calibration = Calibration.from_metadata(fitted["calibration"])
    confidences = [calibration.confidence([c["p"] for c in r["candidates"]], r["candidates"][0])
                   for r in rows if r["kind"] == "answerable"]
    assert sum(c < calibration.threshold for c in confidences) == int(0.10 * 487)


def test_the_engine_threshold_lies_between_the_last_refused_and_the_first_kept_confidence():
    scores = [0.1, 0.2, 0.3, 0.4, 0.480568, 0.48057, 0.6, 0.7, 0.8, 0.9]
    t = answer_sweep.engine_threshold(scores, 0.4)  # refuses four
    assert 0.4 < t <= 0.480568 and sum(s < t for s in scores) == 4
    t = answer_sweep.engine_threshold(scores, 0.5)  # the two closest scores still fall either side
    assert 0.480568 < t <= 0.48057 and sum(s < t for s in scores) == 5
    assert answer_sweep.engine_threshold(scores, 0.0) == 0.1 and answer_sweep.engine_threshold([], 0.1) == 0.0
