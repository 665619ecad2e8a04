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
rag/models/MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from rag.answer.calibration import REFUSAL_FEATURES, Calibration, confidence_features, logit
from rag.answer.question import parse_question
from rag.answer.select import score_sentences
from rag.answer.verdict import judge_candidates
from rag.config import Settings
from rag.fileio import write_atomic
from rag.search.hybrid import Filters
from rag.service.engine import Engine
from rag.service.lifecycle import open_engine

from . import datasets, metrics, question_rewrites
from .answer_eval import auc, threshold_for_false_refusals
from .journal import Journal, scored_settings

KINDS = ("answerable", "removed", "swapped", "antonym")


def kind_of(row: dict) -> str:
    """A row's kind; rows saved before swapped questions existed say only ``no_gold``."""
    return row.get("kind") or ("removed" if row["no_gold"] else "answerable")


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


def replay(rows: list[dict], n: int, blend: float, span_threshold: float) -> dict:
    """hit@1, span F1, and per question the best probability (for refusal), at one setting."""
    hit1, f1, best_p = [], [], []
    for r in rows:
        cands = r["candidates"][:n]
        if not cands:
            best_p.append(0.0)
            hit1.append(False)
            f1.append(0.0)
            continue
        best = chosen(cands, blend)
        best_p.append(best["p"])  # the engine refuses on the chosen sentence's probability
        hit1.append(best["hit"])
        span = best["span"] if best["span_conf"] >= span_threshold else None
        f1.append(metrics.token_f1(span, r["answers"]) if r["answers"] else 0.0)
    return {"hit1": hit1, "f1": f1, "best_p": best_p}


# The refusal's features (rag/answer/calibration.py, REFUSAL_FEATURES), as shipped since 2026-12-02: the
# best answer logit and the chosen sentence's cosine and rare-word coverage, in place of the
# relevance that sums them with the passage's rank. Fitted against the removed, swapped and antonym
# questions together, the cosine carries the weight that the word coverage carried: a sentence of
# the question's topic says its words whether or not it answers (MODEL_CARD.md, "A refusal that
# weighs meaning").
ABSTENTION_FEATURES = ("best_logit", "dense", "lexical")
REFUSE_KINDS = ("removed", "swapped", "antonym")


def abstention_features(cands: list[dict], n: int, blend: float,
                        features: tuple[str, ...] = ABSTENTION_FEATURES) -> list[float]:
    """What the refusal weighs for one question (rag/answer/verdict.py, ModelVerdict.confidence):
    ``features`` of the N candidates' probabilities and of the chosen sentence."""
    cands = cands[:n]
    if not cands:
        return [-14.0 if f == "best_logit" else 0.0 for f in features]
    return list(confidence_features([c["p"] for c in cands], chosen(cands, blend), features))


def chosen(cands: list[dict], blend: float) -> dict:
    """The candidate the engine answers with: the best model logit plus ``blend`` times the heuristic score."""
    return max(cands, key=lambda c: logit(c["p"]) + blend * c["score"])


def fit_logistic(x, y, l2: float = 1e-2, steps: int = 50):
    """Weights and bias of an L2-regularised logistic regression (Newton's method; a few features)."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.diag(np.r_[np.ones(len(w) - 1), 0])
        w -= np.linalg.solve(hess, grad)
    weights = w[:-1] / scale
    return weights.tolist(), float(w[-1] - (weights * mean).sum())


def abstention_report(fit_rows: list[dict], test_rows: list[dict], n: int, blend: float,
                      kinds: tuple[str, ...] = REFUSE_KINDS, report_kinds: tuple[str, ...] = KINDS[1:],
                      feature_names: tuple[str, ...] = ABSTENTION_FEATURES) -> dict:
    """The refusal score over ``feature_names`` learned on ``fit_rows`` (answerable against the
    unanswerable ``kinds``) and, on both sets, its AUC and refusals at 10% false refusals next to the
    best answer logit alone (over ``kinds``), with the refusals of each of ``report_kinds`` at that
    threshold."""
    import numpy as np

    fitted_kinds = ("answerable", *kinds)

    def features(rows):
        return np.asarray([abstention_features(r["candidates"], n, blend, ("best_logit", *feature_names))
                           for r in rows], dtype=np.float64)

    fit = [r for r in fit_rows if kind_of(r) in fitted_kinds]
    weights, bias = fit_logistic(features(fit)[:, 1:], [0 if r["no_gold"] else 1 for r in fit])
    out = {"n": n, "blend": blend, "features": feature_names, "weights": [round(w, 5) for w in weights],
           "bias": round(bias, 5)}
    for name, rows in (("fit", fit_rows), ("test", test_rows)):
        x, row_kinds = features(rows), [kind_of(r) for r in rows]
        for label, score in (("probability", x[:, 0]), ("learned", x[:, 1:] @ np.asarray(weights) + bias)):
            answerable = [s for s, k in zip(score, row_kinds) if k == "answerable"]
            unanswerable = [s for s, k in zip(score, row_kinds) if k in kinds]
            t = threshold_for_false_refusals(answerable, 0.10)
            out[f"{name} {label}"] = {"auc": round(auc(answerable, unanswerable) or 0.0, 4),
                                      "refused_at_10pct": round(_mean([s < t for s in unanswerable]), 4),
                                      "threshold": round(float(t), 4)}
            for kind in report_kinds:
                refused = [s < t for s, k in zip(score, row_kinds) if k == kind]
                if refused:
                    out[f"{name} {label}"][f"refused_{kind}_at_10pct"] = round(_mean(refused), 4)
    calibration = Calibration(float(blend), tuple(round(w, 5) for w in weights), round(bias, 5),
                              features=tuple(feature_names))
    engine_scores = [calibration.confidence([c["p"] for c in r["candidates"][:n]], chosen(r["candidates"][:n], blend))
                     for r in fit if kind_of(r) == "answerable" and r["candidates"]]
    out["calibration"] = replace(calibration, threshold=engine_threshold(engine_scores, 0.10)).metadata()
    return out


def engine_threshold(confidences: list[float], rate: float) -> float:
    """The threshold the engine stores: halfway between the highest confidence it refuses and the
    lowest it keeps, computed from the confidences as the engine computes them (rounded weights),
    and written with enough digits to stay inside that gap.

    Why: the threshold at a question's own score, rounded to 4 digits, can land just above it and
    refuse one question more than the fit allows (version 8's refit: 0.480568 -> 0.4806, 10.2%
    instead of 10.0% false refusals on the held-out articles)."""
    ordered = sorted(confidences)
    k = int(rate * len(ordered))
    if not ordered:
        return 0.0
    if k == 0:
        return ordered[0]
    if k >= len(ordered):
        return ordered[-1]
    low, high = ordered[k - 1], ordered[k]
    middle = (low + high) / 2
    for digits in range(4, 17):
        threshold = round(middle, digits)
        if low < threshold <= high:
            return threshold
    return high


BLEND = Calibration().heuristic_weight  # the fixed blend a learned ranker must beat
RANKING_FEATURES = ("model logit", "heuristic score", "dense", "lexical", "passage")


def ranking_features(c: dict) -> list[float]:
    return [logit(c["p"]), c["score"], c.get("dense", 0.0), c.get("lexical", 0.0), c.get("passage", 0.0)]


def ranking_report(fit_rows: list[dict], test_rows: list[dict], n: int) -> dict:
    """A pointwise logistic ranker over each candidate's features (does it hold the answer?),
    learned on ``fit_rows``' answerable questions; hit@1 and span F1 on both sets, next to the
    model logit alone and the best fixed blend with the heuristic score."""
    import numpy as np

    fit = [r for r in fit_rows if not r["no_gold"]]
    x = [ranking_features(c) for r in fit for c in r["candidates"][:n]]
    y = [int(c["hit"]) for r in fit for c in r["candidates"][:n]]
    weights, bias = fit_logistic(x, y)
    out = {"n": n, "features": RANKING_FEATURES, "weights": [round(w, 5) for w in weights], "bias": round(bias, 5)}
    for name, rows in (("fit", fit), ("test", [r for r in test_rows if not r["no_gold"]])):
        for label, key in (("model", lambda c: logit(c["p"])),
                           (f"blend {BLEND:g}", lambda c: logit(c["p"]) + BLEND * c["score"]),
                           ("learned", lambda c: float(np.dot(weights, ranking_features(c))))):
            hits, f1s = [], []
            for r in rows:
                cands = r["candidates"][:n]
                if not cands:
                    hits.append(False)
                    f1s.append(0.0)
                    continue
                best = max(cands, key=key)
                hits.append(best["hit"])
                f1s.append(metrics.token_f1(best["span"], r["answers"]) if best["span_conf"] >= 0.1 else 0.0)
            out[f"{name} {label}"] = {"hit@1": round(_mean(hits), 4), "span_f1": round(_mean(f1s), 4)}
    return out


COVERAGE_BUCKETS = (0.25, 0.5, 0.75)  # quarters of the question's rare words that the sentence says


def coverage_report(rows: list[dict]) -> dict:
    """How the model's probability for the answer sentence falls with the share of the question's
    rare words it says (the heuristic's ``lexical`` coverage): per quarter, how many answerable
    questions have a candidate holding a gold answer, and the median probability of the first such
    candidate. SQuAD questions mostly reuse their sentence's words; paraphrased ones do not, and
    where the model learned that shared words mean an answer, it doubts them (MODEL_CARD.md)."""
    import numpy as np

    edges = (0.0, *COVERAGE_BUCKETS)
    buckets: dict[int, list[float]] = {k: [] for k in range(len(edges))}
    for r in rows:
        if kind_of(r) != "answerable":
            continue
        gold = next((c for c in r["candidates"] if c["hit"]), None)
        if gold is not None:
            buckets[sum(gold["lexical"] >= e for e in COVERAGE_BUCKETS)].append(gold["p"])
    out = {}
    for k, probabilities in buckets.items():
        upper = f"{COVERAGE_BUCKETS[k]:g}" if k < len(COVERAGE_BUCKETS) else "1"
        out[f"coverage {edges[k]:g}-{upper}"] = {
            "questions": len(probabilities),
            "median_probability": round(float(np.median(probabilities)), 3) if probabilities else None}
    return out


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
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--out", type=Path, help="where to save the scores (with --squad)")
    parser.add_argument("--resume", action="store_true", help="with --squad: go on from OUT.progress.jsonl, "
                        "where a stopped sweep with the same options wrote the questions it had scored")
    parser.add_argument("--fit-abstention", metavar="N,BLEND", help="with --rows: learn a refusal score on those "
                        "rows and report it on --test-rows too")
    parser.add_argument("--fit-ranking", type=int, metavar="N", help="with --rows: learn how to rank N candidates "
                        "on those rows and report it on --test-rows too")
    parser.add_argument("--test-rows", type=Path, help="scores of another question set, for --fit-*")
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
    args = parser.parse_args(argv)
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
            fitted = abstention_report(fit, test, int(n), float(blend), kinds, feature_names=names)
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
        questions = datasets.sample(questions, args.sample)
        suite = datasets.Suite("squad", str(args.squad), questions, corpus, keys)
        settings = Settings.from_env(seeds=corpus, index=Path(tmp) / "index", answerer="model")
        options = {k: str(getattr(args, k)) for k in ("squad", "sample", "no_gold", "swapped", "antonym", "candidates")}
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


def report(rows: list[dict]) -> int:
    """One JSON line per setting: hit@1, span F1, and refusal with the gold paragraph removed."""
    answerable = [r for r in rows if kind_of(r) == "answerable"]
    no_gold = [r for r in rows if kind_of(r) == "removed"]
    perturbed = {kind: [r for r in rows if kind_of(r) == kind] for kind in KINDS[2:]}
    scored = max(len(r["candidates"]) for r in rows)
    for n in (2, 4, 8, 16):
        if n > scored:
            continue
        for blend in (0.0, 2.0, 8.0, 16.0, 32.0, 64.0):
            a, u = (replay(rows, n, blend, 0.1) for rows in (answerable, no_gold))
            others = {kind: replay(kind_rows, n, blend, 0.1) for kind, kind_rows in perturbed.items() if kind_rows}
            line = {"n": n, "blend": blend, "hit@1": _mean(a["hit1"]), "span_f1": _mean(a["f1"]),
                    "auc_refusal": auc(a["best_p"], u["best_p"])}
            for rate in (0.05, 0.10):
                t = threshold_for_false_refusals(a["best_p"], rate)
                line[f"refused_no_gold_at_{int(rate * 100)}pct"] = _mean([p < t for p in u["best_p"]])
                for kind, w in others.items():
                    line[f"refused_{kind}_at_{int(rate * 100)}pct"] = _mean([p < t for p in w["best_p"]])
                line[f"threshold_{int(rate * 100)}pct"] = round(t, 4)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in line.items()}))
    return 0


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
