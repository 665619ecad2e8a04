"""Sweep the model answerer's choices offline on a SQuAD file: candidates N, blend with the
heuristic score, refusal threshold. Each question is scored once (the heuristic's best
``--candidates`` sentences through the model); every setting is then replayed from those scores
(``--rows`` replays a saved file without scoring again). Choose settings on held-out training
articles (``python -m eval.answer_data --val-squad``), then report them on SQuAD dev.

    python -m eval.answer_sweep --squad ../shared/data/squad-v1.1-dev-13/squad-v1.1-dev-13.json \\
        --sample 500 --no-gold 250 --out /tmp/sweep.json
    python -m eval.answer_sweep --rows /tmp/sweep.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from rag.answer.model import judge_candidates
from rag.answer.question import parse_question
from rag.answer.select import score_sentences
from rag.config import Settings
from rag.search.hybrid import Filters
from rag.service.engine import Engine
from rag.service.lifecycle import open_engine

from . import datasets, metrics
from .answer_eval import auc, threshold_for_false_refusals


def collect(engine: Engine, suite: datasets.Suite, questions, candidates: int, remove_gold: bool) -> list[dict]:
    rows = []
    stored = engine.index
    for q in tqdm(questions, desc="no-gold" if remove_gold else "answerable", file=sys.stderr):
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
            cands.append({"score": c.score, "relevance": c.relevance, "p": s.probability,
                          "span": text[s.span[0]:s.span[1]] if s.span else None, "span_conf": s.span_confidence,
                          "hit": metrics.contains_answer(text, q.answers) if q.answers else False})
        rows.append({"id": q.id, "answers": list(q.answers), "no_gold": remove_gold, "candidates": cands})
    return rows


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
        key = [_logit(c["p"]) + blend * c["score"] for c in cands]
        best = cands[max(range(len(cands)), key=key.__getitem__)]
        best_p.append(best["p"])  # the engine refuses on the chosen sentence's probability
        hit1.append(best["hit"])
        span = best["span"] if best["span_conf"] >= span_threshold else None
        f1.append(metrics.token_f1(span, r["answers"]) if r["answers"] else 0.0)
    return {"hit1": hit1, "f1": f1, "best_p": best_p}


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.answer_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, help="SQuAD file to score (or --rows)")
    parser.add_argument("--rows", type=Path, help="replay the scores saved by an earlier --out")
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--no-gold", type=int, default=250, help="how many of them also to ask without their gold paragraph")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--out", type=Path, help="where to save the scores (with --squad)")
    args = parser.parse_args(argv)
    if args.rows is not None:
        return report(json.loads(args.rows.read_text(encoding="utf-8")))
    if args.squad is None or args.out is None:
        parser.error("give --squad and --out, or --rows")
    with tempfile.TemporaryDirectory(prefix="rag-sweep-") as tmp:
        corpus = Path(tmp) / "corpus"
        questions, keys = datasets.load_squad(args.squad, corpus)
        questions = datasets.sample(questions, args.sample)
        suite = datasets.Suite("squad", str(args.squad), questions, corpus, keys)
        settings = Settings.from_env(seeds=corpus, index=Path(tmp) / "index", answerer="model")
        engine, _ = open_engine(settings)
        rows = collect(engine, suite, questions, args.candidates, False)
        rows += collect(engine, suite, questions[:args.no_gold], args.candidates, True)
    args.out.write_text(json.dumps(rows), encoding="utf-8")
    return report(rows)


def report(rows: list[dict]) -> int:
    """One JSON line per setting: hit@1, span F1, and refusal with the gold paragraph removed."""
    answerable = [r for r in rows if not r["no_gold"]]
    no_gold = [r for r in rows if r["no_gold"]]
    scored = max(len(r["candidates"]) for r in rows)
    for n in (2, 4, 8, 16):
        if n > scored:
            continue
        for blend in (0.0, 2.0, 8.0, 16.0, 32.0, 64.0):
            a, u = replay(answerable, n, blend, 0.1), replay(no_gold, n, blend, 0.1)
            line = {"n": n, "blend": blend, "hit@1": _mean(a["hit1"]), "span_f1": _mean(a["f1"]),
                    "auc_refusal": auc(a["best_p"], u["best_p"])}
            for rate in (0.05, 0.10):
                t = threshold_for_false_refusals(a["best_p"], rate)
                line[f"refused_no_gold_at_{int(rate * 100)}pct"] = _mean([p < t for p in u["best_p"]])
                line[f"threshold_{int(rate * 100)}pct"] = round(t, 4)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in line.items()}))
    return 0


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
