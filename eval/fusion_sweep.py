"""Compare ways of fusing the dense and BM25 rankings on question sets, offline.

Each question's two rankings are fetched once, ``--depth`` deep, from the index ``rag eval``
builds; every fusion is then replayed from them and scored as ``rag eval`` scores retrieval
(recall@1, MRR, nDCG@10 of the gold document, one rank per document, 20 passages fetched):

    python -m eval.fusion_sweep --own --squad ../shared/data/squad-v1.1-dev-13/squad-v1.1-dev-13.json \\
        --sample 500 --beir ../shared/data/climate-fever

Besides each ranking alone: reciprocal rank fusion (k=60, ties to the ranking that chose more
decisively), what hybrid search used until 2026-12-02, and ``standardised``, which is
``rag.search.hybrid.fuse_hybrid`` at each weight of meaning in ``--weights``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.answer.multilingual import latin_part
from rag.config import Settings
from rag.search.hybrid import fuse_hybrid
from rag.service.lifecycle import load_embedder, open_engine

from . import metrics
from .run import RANK_DEPTH, RETRIEVAL_TOP_K, EvalOptions, _suites, suite_settings

RRF_K = 60


def reciprocal_rank_fusion(dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray],
                           k: int = RRF_K) -> list[int]:
    """The fusion hybrid search used before: sum of 1/(k + rank), ties to the more decisive win."""
    if not len(lexical[0]):  # as hybrid search does: no shared word, meaning alone ranks
        return dense[0].tolist()
    fused: dict[int, float] = {}
    margin: dict[int, float] = {}
    for ids, scores in (dense, lexical):
        for rank, doc in enumerate(ids.tolist()):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank + 1)
        if len(ids) and scores[0] > 0:
            for doc, share in zip(ids.tolist(), (scores / scores[0]).tolist()):
                margin[doc] = margin.get(doc, 0.0) + share
    return sorted(fused, key=lambda doc: (-fused[doc], -margin.get(doc, 0.0)))


def standardised_fusion(dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray],
                        weight: float, depth: int) -> list[int]:
    """The order ``Retriever.search`` gives at this weight of meaning."""
    return [doc for doc, _ in fuse_hybrid(dense, lexical, depth, weight)]


def rankings(options: EvalOptions, depth: int) -> dict[str, dict]:
    """Per suite: each chunk's document key and, per question with a gold document, both rankings."""
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    found = {}
    with tempfile.TemporaryDirectory(prefix="rag-fusion-") as tmp:
        for suite in _suites(options, Path(tmp)):
            if suite.remove_gold:
                continue
            engine, _ = open_engine(suite_settings(settings, suite), embedder)
            retriever = engine.retriever
            bulletins = [engine.bulletins[c.bulletin_id] for c in engine.index.chunks]
            keys = [suite.doc_key(b.title, b.source) for b in bulletins]
            rows = []
            for q in tqdm([q for q in suite.questions if q.relevant], desc=suite.name, unit="q", file=sys.stderr):
                vector = engine.embedder.encode_query(q.text)
                rows.append((q.relevant, retriever.dense(vector, depth, None),
                             retriever.lexical(latin_part(q.text), depth, None)))
            found[suite.name] = {"keys": keys, "rows": rows}
    return found


def score(suite: dict, fuse) -> dict[str, float]:
    keys, r1, rr, ndcg = suite["keys"], [], [], []
    for relevant, dense, lexical in suite["rows"]:
        order = fuse(dense, lexical)
        ranked = metrics.dedupe(keys[i] for i in order[:RETRIEVAL_TOP_K])[:RANK_DEPTH]
        r1.append(metrics.recall_at_k(ranked, relevant, 1))
        rr.append(metrics.reciprocal_rank(ranked, relevant))
        ndcg.append(metrics.ndcg_at_k(ranked, relevant, 10))
    return {"recall@1": round(float(np.mean(r1)), 3), "mrr": round(float(np.mean(rr)), 3),
            "ndcg@10": round(float(np.mean(ndcg)), 3), "questions": len(r1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.fusion_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--own", action="store_true", help="the own questions over the seeds")
    parser.add_argument("--squad", type=Path, help="a SQuAD file")
    parser.add_argument("--sample", type=int, help="questions drawn from --squad with random.Random(0)")
    parser.add_argument("--beir", type=Path, help="a BEIR folder")
    parser.add_argument("--depth", type=int, default=200, help="how deep each ranking is fetched")
    parser.add_argument("--weights", default="0.4,0.5,0.6", help="weights of meaning for the standardised fusion")
    args = parser.parse_args(argv)
    if not (args.own or args.squad or args.beir):
        parser.error("give at least one of --own, --squad, --beir")
    weights = [float(w) for w in args.weights.split(",")]
    found: dict[str, dict] = {}
    if args.own:
        found.update(rankings(EvalOptions(), args.depth))
    if args.squad:
        found.update(rankings(EvalOptions(squad=args.squad, sample=args.sample), args.depth))
    if args.beir:  # every query with a relevant document, as `rag eval --beir` asks them
        found.update(rankings(EvalOptions(beir=args.beir), args.depth))
    fusions = {"dense alone": lambda dense, lexical: dense[0].tolist(),
               "BM25 alone": lambda dense, lexical: lexical[0].tolist(),
               "reciprocal rank (k=60)": reciprocal_rank_fusion}
    fusions.update({f"standardised, meaning {w}": partial(standardised_fusion, weight=w, depth=args.depth)
                    for w in weights})
    table = {name: {suite: score(rows, fuse) for suite, rows in found.items()} for name, fuse in fusions.items()}
    print(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
