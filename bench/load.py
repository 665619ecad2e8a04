"""Bounded load test on loopback: N concurrent clients ask questions for S seconds.

Starts `rag serve` itself (rate limit off) unless --url is given, and reports requests served,
errors, latency percentiles, throughput, and the server's resident memory before and after.
Prints JSON, then a one-line summary.

    .venv/bin/python -m bench.load --clients 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx

from rag.config import Settings

from .query import load_questions, percentiles, rss_mb, start_server

QUESTIONS = load_questions(None)


async def client(http: httpx.AsyncClient, url: str, questions: list[str], stop_at: float, offset: int,
                 latencies: list[float], errors: list[str]) -> None:
    i = offset
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            response = await http.post(url + "/ask", json={"question": questions[i % len(questions)]})
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
        latencies.append((time.perf_counter() - started) * 1000)
        i += 1


async def run_load(url: str, clients: int, seconds: float, questions: list[str]) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(client(http, url, questions, stop_at, k, latencies, errors) for k in range(clients)))
        elapsed = time.monotonic() - started
    p = percentiles(latencies)
    return {"requests": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "seconds": round(elapsed, 1), "throughput_rps": round(len(latencies) / elapsed, 1),
            "p50_ms": p["p50_ms"], "p95_ms": p["p95_ms"], "p99_ms": p["p99_ms"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--index", help="index folder for the server it starts")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 500 or not 0 < args.seconds <= 600:
        parser.error("--clients must be 1-500 and --seconds 0-600 (a bounded test)")
    if args.url:
        process, url = None, args.url
    else:
        settings = Settings.from_env(index=Path(args.index) if args.index else None)
        process, url, _ = start_server(settings)
    try:
        warm = asyncio.run(run_load(url, 2, 3, QUESTIONS))  # first requests pay one-off costs
        before = rss_mb(process.pid)["rss_mb"] if process else None
        result = asyncio.run(run_load(url, args.clients, args.seconds, QUESTIONS))
        after = rss_mb(process.pid)["rss_mb"] if process else None
    finally:
        if process:
            process.terminate()
            process.wait(30)
    result.update(clients=args.clients, warmup_requests=warm["requests"], rss_mb_before=before, rss_mb_after=after,
                  cpus=os.cpu_count())
    print(json.dumps(result))
    print(f"load: {result['requests']} requests, {result['errors']} errors, p50 {result['p50_ms']} ms, "
          f"p95 {result['p95_ms']} ms, {result['throughput_rps']} req/s, RSS {before} -> {after} MB", file=sys.stderr)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
