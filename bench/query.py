"""Question latency: Engine.ask in-process, and POST /ask over HTTP, sequential and concurrent.

    .venv/bin/python -m bench.query                                   # seeds, in-process
    .venv/bin/python -m bench.query --serve                           # also start `rag serve` and measure HTTP
    .venv/bin/python -m bench.query --url http://127.0.0.1:8000       # a server that is already running
    .venv/bin/python -m bench.query --seeds /tmp/reuters/bulletins --index /tmp/reuters-index --serve --headline-questions 100
    .venv/bin/python -m bench.query --answer-candidates 2,4,8,16 --no-in-process   # the answer model's cost per N

Questions come from ``--questions`` (JSONL with ``question`` or ``text``), or from
``--headline-questions N`` ("What happened with <headline>?" for N headlines of the index), else
eval/questions.jsonl, else a built-in list; they are asked round-robin after a warm-up.
``--serve`` starts the server on a free port with the rate limit lifted, and reports its
start-up time (until /readyz answers) and its resident memory. Prints JSON, then a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.output import check_out, emit
from rag.config import PROJECT_ROOT, Settings
from rag.encode.cpu import cpu_features

BUILT_IN = [
    "Who leads the National Carbon Neutrality Science and Technology Expert Committee?",
    "Where did the IPCC release its Synthesis Report?",
    "When was the first meeting of the expert committee held?",
    "What did the central bank say about interest rates?",
    "How much did the company earn in the first quarter?",
    "Which countries agreed to cut oil production?",
    "What is the price of cocoa?",
    "Who is the chairman of the board?",
]


def load_questions(path: Path | None) -> list[str]:
    path = path or PROJECT_ROOT / "eval" / "questions.jsonl"
    if not path.is_file():
        return BUILT_IN
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            questions.append(record.get("question") or record.get("text"))
    return [q for q in questions if q] or BUILT_IN


def headline_questions(index_dir: Path, n: int) -> list[str]:
    """"What happened with <headline>?" for ``n`` bulletins of the built index, drawn with
    ``random.Random(0)``: questions for a corpus that has no question set (e.g. Reuters)."""
    import random

    from rag.index import store

    loaded = store.load(index_dir)
    if loaded is None:
        raise SystemExit(f"bench.query: no index in {index_dir}: build it first (rag index)")
    titles = sorted({b.title for b in loaded.bulletins if b.title})
    return [f"What happened with {t}?" for t in random.Random(0).sample(titles, min(n, len(titles)))]


def percentiles(samples_ms: list[float]) -> dict:
    values = np.asarray(samples_ms)
    return {"n": len(values), "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p95_ms": round(float(np.percentile(values, 95)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2),
            "mean_ms": round(float(values.mean()), 2)}


def in_process(settings: Settings, questions: list[str], n: int, warmup: int) -> dict:
    from rag.service.lifecycle import load_embedder, open_engine

    started = time.perf_counter()
    embedder = load_embedder(settings)
    engine, report = open_engine(settings, embedder)
    startup = time.perf_counter() - started
    for q in questions[:warmup]:
        engine.ask(q)
    latencies, retrieve, answer, abstained = [], [], [], 0
    wall = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        result = engine.ask(questions[i % len(questions)])
        latencies.append((time.perf_counter() - t) * 1000)
        retrieve.append(result.timings_ms["retrieve"])
        answer.append(result.timings_ms["answer"])
        abstained += result.abstained
    wall = time.perf_counter() - wall
    repeated = repeated_questions(engine, questions[:min(n, 50)])
    query_ms = []
    for i in range(min(n, 50)):
        t = time.perf_counter()
        embedder.encode_query(questions[i % len(questions)])
        query_ms.append((time.perf_counter() - t) * 1000)
    return {"startup_s": round(startup, 2), "rebuilt": report.rebuilt,
            "chunks": len(engine.index.chunks), "bulletins": len(engine.index.bulletins),
            "sequential": {**percentiles(latencies), "throughput_qps": round(n / wall, 1)},
            "retrieve_p50_ms": round(float(np.median(retrieve)), 2),
            "answer_p50_ms": round(float(np.median(answer)), 2),
            "query_embedding_p50_ms": round(float(np.median(query_ms)), 2),
            "abstained": abstained, "repeated_question": repeated}


def repeated_questions(engine, questions: list[str]) -> dict:
    """Each question asked once more on a copy of ``engine`` with the answer cache on
    (``RAG_ANSWER_CACHE``; the figures above are measured with it off): what a suggested or
    recurring question costs the second time."""
    from rag.service.engine import Engine

    cached = Engine(engine.settings.with_(answer_cache=max(len(questions), 1)), engine.embedder,
                    list(engine.files.values()), engine.index, engine.answer_model)
    for q in questions:
        cached.ask(q)
    latencies = []
    for q in questions:
        t = time.perf_counter()
        cached.ask(q)
        latencies.append((time.perf_counter() - t) * 1000)
    return percentiles(latencies)


def answer_curve(settings: Settings, questions: list[str], n: int, warmup: int, candidates: list[int]) -> dict:
    """Engine.ask with the heuristic answerer (the baseline) and with the answer model scoring N
    candidate sentences, for each N: the model's cost against its quality figures in the README;
    and at the default N with its candidates scored one after the other (one worker), with the
    block-quantised layers run as stored (int8 blocks) instead of this CPU's choice, and with ONNX
    Runtime's fused layer norms and GELUs instead of the split ones (rag/encode/split_fusions.py). The settings
    take turns question by question, so that a machine that slows down for a while slows all of
    them alike. CPU features and threads are reported, as they decide the int8 speed."""
    from rag.answer.model import AnswerModel
    from rag.service.engine import Engine
    from rag.service.lifecycle import open_engine

    engine, _ = open_engine(settings.with_(answerer="model"))
    model = engine.answer_model
    default_n = settings.answer_candidates
    serial = AnswerModel(model.path, settings.query_threads, blocks=model.blocks, workers=1)
    # the block-quantised layers as stored, against this CPU's choice (rag/encode/block_matmul.py)
    other = AnswerModel(model.path, settings.query_threads, blocks="int8", workers=model.workers)
    fused = AnswerModel(model.path, settings.query_threads, blocks=model.blocks, workers=model.workers, split=False)

    def engine_with(n_candidates: int, answer_model) -> Engine:
        return Engine(engine.settings.with_(answer_candidates=n_candidates), engine.embedder,
                      list(engine.files.values()), engine.index, answer_model)

    runs = {"heuristic": (engine, "heuristic")}
    runs.update({f"model N={c}": (engine_with(c, model), "model") for c in candidates})
    if model.workers > 1:
        runs[f"model N={default_n}, one worker"] = (engine_with(default_n, serial), "model")
    runs[f"model N={default_n}, block layers {other.blocks}"] = (engine_with(default_n, other), "model")
    runs[f"model N={default_n}, fused kernels"] = (engine_with(default_n, fused), "model")
    for current, answerer in runs.values():
        for q in questions[:warmup]:
            current.ask(q, answerer=answerer)
    latencies: dict[str, list[float]] = {label: [] for label in runs}
    answer_ms: dict[str, list[float]] = {label: [] for label in runs}
    for i in range(n):
        for label, (current, answerer) in runs.items():
            t = time.perf_counter()
            result = current.ask(questions[i % len(questions)], answerer=answerer)
            latencies[label].append((time.perf_counter() - t) * 1000)
            answer_ms[label].append(result.timings_ms["answer"])
    rows = {label: {**percentiles(latencies[label]), "answer_p50_ms": round(float(np.median(answer_ms[label])), 2)}
            for label in runs}
    return {"cpu_features": cpu_features(), "query_threads": settings.query_threads, "load_average": os.getloadavg()[0],
            "answer_model": {"file": model.path.name, "bytes": model.path.stat().st_size,
                             "limits": model.limits.__dict__, "block_layers": model.blocks,
                             "workers": model.workers},
            "by_answerer": rows}


def http_sequential(url: str, questions: list[str], n: int, warmup: int) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        for q in questions[:warmup]:
            client.post("/ask", json={"question": q}).raise_for_status()
        latencies, wall = [], time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            client.post("/ask", json={"question": questions[i % len(questions)]}).raise_for_status()
            latencies.append((time.perf_counter() - t) * 1000)
        wall = time.perf_counter() - wall
    return {**percentiles(latencies), "throughput_qps": round(n / wall, 1)}


async def http_concurrent(url: str, questions: list[str], n: int, clients: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))

    async def client_loop(client):
        nonlocal errors
        for i in counter:
            t = time.perf_counter()
            response = await client.post("/ask", json={"question": questions[i % len(questions)]})
            latencies.append((time.perf_counter() - t) * 1000)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        wall = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - wall
    return {"clients": clients, **percentiles(latencies), "throughput_qps": round(n / wall, 1), "errors": errors}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(settings: Settings, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 600) -> tuple[subprocess.Popen, str, float]:
    """``rag serve`` (with ``args``, e.g. ``--ray``) on a free port with the rate limit lifted, the
    answer cache off (benchmarks ask the same questions again and measure answering them) and
    ``env`` added; returns it, its URL and its start-up seconds once /readyz answers."""
    import httpx

    port = free_port()
    env = {**os.environ, "RAG_RATE_LIMIT_PER_MINUTE": "1000000", "RAG_ANSWER_CACHE": "0", **(env or {})}
    command = [sys.executable, "-m", "rag.cli", "serve", *args, "--seeds", str(settings.seeds),
               "--index", str(settings.index), "--port", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"rag serve exited with code {server.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"rag serve was not ready after {timeout} s")


def rss_mb(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS"), "peak_rss_mb": fields.get("VmHWM")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=Path, help="folder of bulletin files (default: settings)")
    parser.add_argument("--index", type=Path, help="index folder (default: settings)")
    parser.add_argument("--questions", type=Path, help="JSONL of questions")
    parser.add_argument("--headline-questions", type=int, metavar="N",
                        help='ask "What happened with <headline>?" of N bulletins of the index instead')
    parser.add_argument("-n", type=int, default=200, help="questions per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--url", help="measure this running server too")
    parser.add_argument("--server-pid", type=int, help="its process id, to report its memory")
    parser.add_argument("--serve", action="store_true", help="start `rag serve` and measure it over HTTP")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument("--answer-candidates", help="also measure the answer model at these N, "
                        "comma-separated (e.g. 2,4,8,16), beside the heuristic")
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    args = parser.parse_args(argv)
    check_out(parser, args.out)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the answer cache off: the warm-up and the measured runs ask the same questions
    settings = Settings.from_env(seeds=args.seeds, index=args.index, answer_cache=0)
    questions = (headline_questions(settings.index, args.headline_questions) if args.headline_questions
                 else load_questions(args.questions))
    report: dict = {"seeds": str(settings.seeds), "index": str(settings.index), "questions": len(questions),
                    "mode": settings.mode, "query_threads": settings.query_threads,
                    "query_precision": settings.query_precision, "cpu_features": cpu_features()}
    if not args.no_in_process:
        report["in_process"] = in_process(settings, questions, args.n, args.warmup)
    if args.answer_candidates:
        try:
            candidates = [int(c) for c in args.answer_candidates.split(",")]
        except ValueError:
            parser.error(f"--answer-candidates takes numbers like 2,4,8: {args.answer_candidates!r}")
        report["answer_curve"] = answer_curve(settings, questions, args.n, args.warmup, candidates)
    server, url, pid = None, args.url, args.server_pid
    try:
        if args.serve:
            server, url, ready = start_server(settings)
            pid = server.pid
            report["server_startup_s"] = round(ready, 2)
        if url:
            report["http"] = {"url": url, "sequential": http_sequential(url, questions, args.n, args.warmup),
                              "concurrent": asyncio.run(http_concurrent(url, questions, args.n, args.clients))}
            if pid:
                report["http"]["server_memory"] = rss_mb(pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    emit(report, args.out, summary(report))
    return 0


def summary(report: dict) -> str:
    parts = []
    if "in_process" in report:
        p = report["in_process"]
        s = p["sequential"]
        parts.append(f"{p['chunks']} chunks: in-process p50 {s['p50_ms']} ms p95 {s['p95_ms']} ms "
                     f"p99 {s['p99_ms']} ms ({s['throughput_qps']} q/s; query embedding "
                     f"{p['query_embedding_p50_ms']} ms); asked again, from the answer cache: "
                     f"p50 {p['repeated_question']['p50_ms']} ms")
    if "http" in report:
        h = report["http"]
        s, c = h["sequential"], h["concurrent"]
        parts.append(f"HTTP p50 {s['p50_ms']} ms p95 {s['p95_ms']} ms; {c['clients']} clients p50 {c['p50_ms']} ms "
                     f"{c['throughput_qps']} q/s")
        if "server_memory" in h:
            parts.append(f"server RSS {h['server_memory']['rss_mb']} MB")
    if "answer_curve" in report:
        parts.append("ask p50 " + ", ".join(f"{k} {v['p50_ms']} ms"
                                            for k, v in report["answer_curve"]["by_answerer"].items()))
    if "server_startup_s" in report:
        parts.append(f"ready in {report['server_startup_s']} s")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
