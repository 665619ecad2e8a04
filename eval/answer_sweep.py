"""Sweep the model answerer's choices offline on a SQuAD file: candidates N, blend with the
heuristic score, refusal threshold. Each question is scored once (the heuristic's best
``--candidates`` sentences through the model); every setting is then replayed from those scores
(``--rows`` replays a saved file without scoring again). Choose settings on held-out training
articles (``python -m eval.answer_data --val-squad``), then report them on SQuAD dev.

    python -m eval.answer_sweep --squad ../shared/data/squad-v1.1-dev-13/squad-v1.1-dev-13.json \\
        --sample 500 --no-gold 250 --out /tmp/sweep.json
    python -m eval.answer_sweep --rows /tmp/sweep.json

A stopped sweep goes on with the same command and ``--resume``: the questions it had scored are
in ``/tmp/sweep.json.progress.jsonl`` (eval/journal.py).

Four kinds of question: answerable (the gold paragraph in the corpus), ``removed`` (the same
questions with their gold paragraph out of the corpus: the open-domain case), ``swapped``
(an entity that the answer sentence says swapped for another of the article, with the gold
paragraph in the corpus: a question that reads answerable and that nothing answers, like the
bulletin reader's "Who is the Minister of ...?" when a vice minister is named) and ``antonym``
(a word the answer sentence says turned into its opposite: "the largest" asked as "the
smallest"; eval/question_rewrites.py, ``antonym_question``). Each kind's
refusal is reported; the refusal is fitted against ``--refuse-kinds`` (all three since 2026-12-02,
over ``--refusal-features``; until then removed questions alone, over the best logit and the
relevance, with which fitting against swapped questions too refused no more of them;
rag/models/MODEL_CARD.md). The fits and reports over saved rows are eval/answer_fits.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from rag.answer.calibration import REFUSAL_FEATURES
from rag.answer.question import parse_question
from rag.answer.select import score_sentences
from rag.answer.verdict import judge_candidates
from rag.config import Settings
from rag.fileio import write_atomic
from rag.search.hybrid import Filters
from rag.service.engine import Engine
from rag.service.lifecycle import open_engine

from . import datasets, metrics, question_rewrites
from .answer_fits import (
    ABSTENTION_FEATURES,
    KINDS,
    REFUSE_KINDS,
    abstention_report,
    coverage_report,
    ranking_report,
    report,
    threshold_curve,
)
from .journal import Journal, scored_settings


def stored_curve(model_file: Path, fit_path: Path, test_path: Path) -> dict:
    """``threshold_curve`` for the refusal stored in ``model_file``, at the N the engine reads and
    at the stored threshold itself."""
    import onnx

    from rag.answer.calibration import Calibration

    metadata = {p.key: p.value for p in onnx.load(str(model_file), load_external_data=False).metadata_props}
    calibration = Calibration.from_metadata(metadata)
    fit, test = (json.loads(path.read_text(encoding="utf-8")) for path in (fit_path, test_path))
    n = Settings().answer_candidates
    return {"model": str(model_file), "n": n, "calibration": calibration.metadata(),
            "curve": threshold_curve(fit, test, calibration, n, thresholds=(calibration.threshold,))}


def collect(engine: Engine, suite: datasets.Suite, questions, candidates: int, kind: str,
            journal: Journal | None = None) -> list[dict]:
    """Score each question's best ``candidates`` sentences; ``kind`` "removed" asks without the gold
    paragraph. ``journal``: rows already scored are taken from it, new ones written to it."""
    rows = []
    for q in tqdm(questions, desc=kind, file=sys.stderr):
        row = journal.get(kind, "sweep", q.id, q.text) if journal else None
        if row is None:
            row = _row(engine, suite, q, candidates, kind)
            if journal:
                journal.add(kind, "sweep", q.text, row)
        rows.append(row)
    return rows


def _row(engine: Engine, suite: datasets.Suite, q, candidates: int, kind: str) -> dict:
    """One question's row: its best ``candidates`` sentences, each with the heuristic's scores, the
    model's probability and span, and whether it holds a gold answer."""
    stored = engine.index
    remove_gold = kind == "removed"
    filters = Filters()
    if remove_gold:
        filters = Filters(bulletin_ids=frozenset(b.id for b in engine.bulletins.values()
                                                 if suite.doc_key(b.title, b.source) not in q.relevant))
    _, ranked, vector = engine.search(q.text, mode="hybrid", filters=filters)
    question = parse_question(q.text.strip(), vector)
    scored = score_sentences(question, ranked, stored.chunks, stored.sentences, stored.sentence_vectors,
                             stored.lexical, engine.titles)[:candidates]
    verdict = judge_candidates(engine.answer_model, question, scored, stored.sentences, engine.titles, candidates)
    by_index = {c.index: s for c, s in zip(verdict.candidates, verdict.scores)}
    cands = []
    for c in scored:  # the heuristic's order
        s = by_index[c.index]
        text = stored.sentences[c.index].text
        cands.append({"score": c.score, "relevance": c.relevance, "dense": c.dense, "lexical": c.lexical,
                      "passage": c.passage, "p": s.probability,
                      "span": text[s.span[0]:s.span[1]] if s.span else None, "span_conf": s.span_confidence,
                      "span_logit": s.start_logit + s.end_logit,
                      "hit": metrics.contains_answer(text, q.answers) if q.answers else False})
    return {"id": q.id, "answers": list(q.answers), "no_gold": kind != "answerable", "kind": kind,
            "candidates": cands}


def own_rows(engine: Engine, path: Path, candidates: int) -> list[dict]:
    """An own question set's rows over the engine's corpus (the seeds): answerable questions as
    kind "answerable", the others as "unanswerable", each with its question kind (factual,
    paraphrase, ...). For reports (``--by-coverage``, replayed refusals), never to fit a setting:
    settings are chosen on held-out SQuAD training articles only."""
    questions = datasets.load_questions(path)
    suite = datasets.Suite("own", str(path), questions, None, None)
    kinds = {q.id: q.kind for q in questions}
    rows = collect(engine, suite, [q for q in questions if q.answerable], candidates, "answerable")
    rows += collect(engine, suite, [q for q in questions if not q.answerable], candidates, "unanswerable")
    return [{**r, "question_kind": kinds[r["id"]]} for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.answer_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, help="SQuAD file to score (or --rows)")
    parser.add_argument("--rows", type=Path, help="replay the scores saved by an earlier --out")
    parser.add_argument("--own", type=Path, nargs="?", const=datasets.OWN_QUESTIONS, metavar="QUESTIONS",
                        help="score an own question set (default eval/questions.jsonl) over the configured seeds "
                        "and index instead of SQuAD, into --out; for reports, never for fitting")
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--no-gold", type=int, default=250,
                        help="how many of them also to ask without their gold paragraph")
    parser.add_argument("--swapped", type=int, default=500,
                        help="how many of them also to ask made unanswerable by a swap (those that can be)")
    parser.add_argument("--antonym", type=int, default=500,
                        help="how many of them also to ask with a word turned into its opposite (those that can be)")
    parser.add_argument("--outside-sample", type=int, default=0, metavar="N",
                        help="draw only from the questions outside the N that `rag eval --sample N` scores, so "
                        "that a refusal fitted on these rows is reported on questions it was not fitted on")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--out", type=Path, help="where to save the scores (with --squad)")
    parser.add_argument("--resume", action="store_true", help="with --squad: go on from OUT.progress.jsonl, "
                        "where a stopped sweep with the same options wrote the questions it had scored")
    parser.add_argument("--fit-abstention", metavar="N,BLEND", help="with --rows: learn a refusal score on those "
                        "rows and report it on --test-rows too")
    parser.add_argument("--fit-ranking", type=int, metavar="N", help="with --rows: learn how to rank N candidates "
                        "on those rows and report it on --test-rows too")
    parser.add_argument("--test-rows", type=Path, help="scores of another question set, for --fit-* and "
                        "--threshold-curve")
    parser.add_argument("--threshold-curve", type=Path, metavar="ONNX", help="with --rows and --test-rows: "
                        "this model file's stored refusal at thresholds refusing 2-10%% of the --rows' answerable "
                        "questions and at its own, with hit, hit@1 and each unanswerable kind refused on both sets")
    parser.add_argument("--by-coverage", action="store_true", help="with --rows: the model's median probability "
                        "for the answer sentence by how much of the question's rare words it says")
    parser.add_argument("--refuse-kinds", default=",".join(REFUSE_KINDS),
                        help="with --fit-abstention: the unanswerable kinds the refusal is fitted against "
                        "(a comma-separated choice of removed, swapped, antonym); every kind's refusal is reported")
    parser.add_argument("--refusal-features", default=",".join(ABSTENTION_FEATURES),
                        help="with --fit-abstention: what the refusal weighs (a comma-separated choice of "
                        f"{', '.join(REFUSAL_FEATURES)}; before 2026-12-02: best_logit,relevance)")
    parser.add_argument("--write-calibration", type=Path, metavar="ONNX",
                        help="with --fit-abstention: store the blend, the learned refusal and its threshold in "
                        "this model file (the model the rows were scored with), where the engine reads them")
    parser.add_argument("--stored-false-refusals", type=float, default=0.10, metavar="RATE",
                        help="with --write-calibration: the share of the --rows' answerable questions the stored "
                        "threshold refuses (default 0.10; version 21: 0.114, version 8's share in the engine)")
    args = parser.parse_args(argv)
    if args.threshold_curve is not None:
        if args.rows is None or args.test_rows is None:
            parser.error("--threshold-curve needs --rows and --test-rows")
        print(json.dumps(stored_curve(args.threshold_curve, args.rows, args.test_rows), indent=1))
        return 0
    if args.fit_ranking or args.fit_abstention:
        if args.rows is None or args.test_rows is None:
            parser.error("--fit-ranking and --fit-abstention need --rows and --test-rows")
        fit, test = (json.loads(path.read_text(encoding="utf-8")) for path in (args.rows, args.test_rows))
        if args.fit_ranking:
            print(json.dumps(ranking_report(fit, test, args.fit_ranking), indent=1))
        else:
            n, blend = args.fit_abstention.split(",")
            kinds = tuple(k for k in args.refuse_kinds.split(",") if k)
            if not kinds or set(kinds) - set(KINDS[1:]):
                parser.error(f"--refuse-kinds: a comma-separated choice of {', '.join(KINDS[1:])}")
            names = tuple(f for f in args.refusal_features.split(",") if f)
            if not names or set(names) - set(REFUSAL_FEATURES):
                parser.error(f"--refusal-features: a comma-separated choice of {', '.join(REFUSAL_FEATURES)}")
            if not 0.0 <= args.stored_false_refusals < 1.0:
                parser.error("--stored-false-refusals: a share from 0 to below 1, such as 0.10")
            fitted = abstention_report(fit, test, int(n), float(blend), kinds, feature_names=names,
                                       stored_rate=args.stored_false_refusals)
            print(json.dumps(fitted, indent=1))
            if args.write_calibration is not None:
                from .export_answer_model import stamp

                stamp(args.write_calibration, fitted["calibration"])
                print(f"calibration written to {args.write_calibration}", file=sys.stderr)
        return 0
    if args.rows is not None:
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
        if args.by_coverage:
            print(json.dumps(coverage_report(rows), indent=1))
            return 0
        return report(rows)
    if args.own is not None:
        if args.out is None:
            parser.error("--own needs --out")
        engine, _ = open_engine(Settings.from_env(answerer="model"))
        rows = own_rows(engine, args.own, args.candidates)
        args.out.write_text(json.dumps(rows), encoding="utf-8")
        print(json.dumps(coverage_report(rows), indent=1))
        return 0
    if args.squad is None or args.out is None:
        parser.error("give --squad and --out, --own and --out, or --rows")
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder: give the file the rows go into")
    with tempfile.TemporaryDirectory(prefix="rag-sweep-") as tmp:
        corpus = Path(tmp) / "corpus"
        questions, keys = datasets.load_squad(args.squad, corpus)
        if args.outside_sample:
            reported = {q.id for q in datasets.sample(questions, args.outside_sample)}
            questions = [q for q in questions if q.id not in reported]
        questions = datasets.sample(questions, args.sample)
        suite = datasets.Suite("squad", str(args.squad), questions, corpus, keys)
        settings = Settings.from_env(seeds=corpus, index=Path(tmp) / "index", answerer="model")
        options = {k: str(getattr(args, k))
                   for k in ("squad", "sample", "outside_sample", "no_gold", "swapped", "antonym", "candidates")}
        # the corpus is the SQuAD file's, written into a new temporary folder each time
        kept = {k: v for k, v in scored_settings(settings).items() if k not in ("seeds", "index")}
        header = {"options": options, "settings": kept}
        with Journal(Path(f"{args.out}.progress.jsonl"), header, args.resume) as journal:
            engine, _ = open_engine(settings)
            rows = collect(engine, suite, questions, args.candidates, "answerable", journal)
            rows += collect(engine, suite, questions[:args.no_gold], args.candidates, "removed", journal)
            swapped = question_rewrites.swapped_questions(args.squad, questions[:args.swapped])
            rows += collect(engine, suite, swapped, args.candidates, "swapped", journal)
            opposite = question_rewrites.antonym_questions(args.squad, questions[:args.antonym])
            rows += collect(engine, suite, opposite, args.candidates, "antonym", journal)
    write_atomic(args.out, json.dumps(rows).encode("utf-8"))
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
