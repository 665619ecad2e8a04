"""Ray benchmark: a local build against a Ray build of the same stories, Ray's start-up cost, and
`/ask` throughput of one `rag serve` process against 1 and 2 Ray Serve replicas.

    .venv/bin/python -m bench.ray ../shared/data/reuters21578/reuters21578.jsonl --limit 2000

Both builds run in this process, one after the other, from an empty index folder (the model
export into INDEX/models is done once beforehand for both, so neither pays it). The Ray build
starts its own local cluster (num_cpus = this machine's cores), whose start is timed apart.
The replicas serve the Ray-built index, joined by `rag serve --ray ADDRESS` subprocesses; the
load is `bench.load` (N clients for S seconds, own questions). Also measured: the seconds from a
`POST /bulletins` acknowledgement until every replica serves the new generation. Prints JSON,
then a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.corpora import bulletin_folder
from bench.load import QUESTIONS, run_load
from bench.output import check_out, emit
from bench.query import start_server
from rag.config import PROJECT_ROOT, Settings, available_cores
from rag.service.lifecycle import load_embedder, open_engine

KEY = "bench-key"


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, round(time.perf_counter() - started, 2)


def builds(stories: Path, work: Path) -> tuple[dict, str, Settings]:
    from rag import cluster
    from rag.cluster.build import open_on_ray

    local = Settings.from_env(seeds=stories, index=work / "local")
    distributed = local.with_(index=work / "ray")
    for settings in (local, distributed):  # the ONNX export, once per index folder, outside the timings
        load_embedder(settings)
    (local_engine, _), local_s = timed(open_engine, local)
    address, start_s = timed(cluster.connect, "")
    (ray_engine, _), ray_s = timed(open_on_ray, distributed)
    a, b = local_engine.index, ray_engine.index
    report = {
        "bulletins": len(a.bulletins), "chunks": len(a.chunks), "sentences": len(a.sentences),
        "local_build_s": local_s, "ray_start_s": start_s, "ray_build_s": ray_s,
        "overhead_ratio": round(ray_s / local_s, 2), "overhead_ratio_with_start": round((ray_s + start_s) / local_s, 2),
        "records_identical": a.bulletins == b.bulletins and a.chunks == b.chunks and a.sentences == b.sentences,
        "min_chunk_cosine": round(float((a.chunk_vectors * b.chunk_vectors).sum(axis=1).min()), 6),
    }
    return report, address, distributed


def serve_load(settings: Settings, address: str, replicas: int | None, clients: int, seconds: float) -> dict:
    """Throughput of `rag serve` (``replicas`` None) or `rag serve --ray --replicas N` under bench.load."""
    ray_args = () if replicas is None else ("--ray", address, "--replicas", str(replicas))
    process, url, ready_s = start_server(settings, *ray_args, env={"RAG_API_KEY": KEY})
    try:
        asyncio.run(run_load(url, 2, 3, QUESTIONS))  # warm-up
        result = asyncio.run(run_load(url, clients, seconds, QUESTIONS))
        result["ready_s"] = round(ready_s, 1)
        if replicas:
            result["write_visible_on_all_s"] = _propagation(url, replicas)
    finally:
        process.terminate()
        process.wait(60)
    return result


def _propagation(url: str, replicas: int) -> float:
    """Seconds from a POST's 201 until ``replicas`` replicas answer from its generation (or a later one)."""
    with httpx.Client(timeout=60) as http:
        response = http.post(url + "/bulletins", headers={"Authorization": f"Bearer {KEY}"},
                             json={"title": "Benchmark bulletin", "text": "The benchmark wrote this bulletin."})
        response.raise_for_status()
        acknowledged = time.monotonic()
        generation = response.headers["x-index-generation"]
        seen = {response.headers["x-replica"]}
        while len(seen) < replicas:
            reply = http.get(url + "/readyz")
            if reply.headers["x-index-generation"] == generation:  # the only write: no later one
                seen.add(reply.headers["x-replica"])
            if time.monotonic() - acknowledged > 60:
                return float("inf")
        return round(time.monotonic() - acknowledged, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, nargs="?",
                        default=PROJECT_ROOT.parent / "shared/data/reuters21578/reuters21578.jsonl",
                        help="a JSONL of stories, a BEIR folder or a folder of bulletins (default: Reuters-21578)")
    parser.add_argument("--limit", type=int, default=2000, help="stories to index (default 2000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    check_out(parser, args.out)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        stories = bulletin_folder(args.corpus, work, args.limit)
        report, address, settings = builds(stories, work)
        report["serve"] = {label: serve_load(settings, address, replicas, args.clients, args.seconds)
                           for label, replicas in (("rag serve", None), ("1 replica", 1), ("2 replicas", 2))}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.update(stories=args.limit, cores=available_cores(), load_average=os.getloadavg()[0],
                  clients=args.clients, seconds=args.seconds)
    serve = report["serve"]
    emit(report, args.out, f"ray: local build {report['local_build_s']} s, Ray build {report['ray_build_s']} s "
         f"(x{report['overhead_ratio']}; start {report['ray_start_s']} s); /ask "
         f"{serve['rag serve']['throughput_rps']} req/s one process, {serve['1 replica']['throughput_rps']} with 1 "
         f"replica, {serve['2 replicas']['throughput_rps']} with 2")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
