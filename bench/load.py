"""Bounded load test on loopback: N concurrent clients ask questions for S seconds.

Starts `rag serve` itself (rate limit off) unless --url is given, and reports requests served,
errors, latency percentiles, throughput, and the server's resident memory before and after.
Prints JSON, then a one-line summary.

    .venv/bin/python bench/load.py --clients 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Who leads the National Carbon Neutrality Science and Technology Expert Committee?",
    "Where did the IPCC release its Synthesis Report?",
    "How many key emitters did the first compliance cycle cover?",
    "What share of China's installed power capacity is renewable?",
    "How many standards should be drawn up by 2025?",
    "Who won the 2022 FIFA World Cup?",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def start_server(index: str | None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAG_RATE_LIMIT_PER_MINUTE": "0"}
    command = [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)] + (["--index", index] if index else [])
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("load: the server exited during start-up")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("load: the server was not ready within 300 s")


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
    values = np.asarray(latencies)
    return {"requests": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "seconds": round(elapsed, 1), "throughput_rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(values, 50)), 1), "p95_ms": round(float(np.percentile(values, 95)), 1),
            "p99_ms": round(float(np.percentile(values, 99)), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--index", help="index folder for the server it starts")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 500 or not 0 < args.seconds <= 600:
        parser.error("--clients must be 1-500 and --seconds 0-600 (a bounded test)")
    process, url = (None, args.url) if args.url else start_server(args.index)
    try:
        warm = asyncio.run(run_load(url, 2, 3, QUESTIONS))  # first requests pay one-off costs
        before = rss_mb(process.pid) if process else None
        result = asyncio.run(run_load(url, args.clients, args.seconds, QUESTIONS))
        after = rss_mb(process.pid) if process else None
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
