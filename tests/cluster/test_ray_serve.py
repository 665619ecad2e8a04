"""`rag serve --ray --replicas 2`: a real Ray Serve deployment on a local cluster, as a subprocess."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass

import httpx
import pytest

from helpers import SEEDS, rag_serve

pytestmark = pytest.mark.slow
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CLIENTS = 5  # 4 asking, 1 adding bulletins: at most 5 requests in flight at any time
PROPAGATION_LIMIT_S = 10.0  # an acknowledged write is answered by every replica within this


@pytest.fixture(scope="module")
def served(ray_cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-serve")
    shutil.copytree(SEEDS, folder / "seeds")
    env = {**__import__("os").environ, "RAG_API_KEY": KEY, "RAG_RATE_LIMIT_PER_MINUTE": "0"}
    with rag_serve("--ray", ray_cluster, "--replicas", "2", "--seeds", str(folder / "seeds"),
                   "--index", str(folder / "index"), env=env) as port:
        yield f"http://127.0.0.1:{port}"


def _replicas_answering(url: str, question: str, expected: str, replicas: int = 2, timeout: float = 60) -> dict:
    """Ask until ``replicas`` different replicas have answered with ``expected`` in the answer;
    returns {replica: seconds until its first such answer}."""
    started = time.monotonic()
    seen: dict[str, float] = {}
    with httpx.Client(timeout=30) as http:
        while len(seen) < replicas:
            assert time.monotonic() - started < timeout, f"only {sorted(seen)} answered about it"
            response = http.post(url + "/ask", json={"question": question})
            assert response.status_code == 200, response.text
            if expected in response.json()["answer"]:
                seen.setdefault(response.headers["x-replica"], time.monotonic() - started)
    return seen


def test_two_replicas_answer_questions(served):
    """Both replicas take questions. Asked four at a time, as a busy site would, so that Serve's
    router (the shorter queue of two) spreads them; the deadline covers a proxy that learns of
    the second replica a little after the first."""
    from concurrent.futures import ThreadPoolExecutor

    question = {"question": "Who leads the National Carbon Neutrality Science and Technology Expert Committee?"}
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(4) as pool:
        while len(seen) < 2 and time.monotonic() < deadline:
            for response in pool.map(lambda _: http.post(served + "/ask", json=question), range(4)):
                assert response.status_code == 200, response.text
                assert "Liu Zhongmin" in response.json()["answer"]
                seen.add(response.headers["x-replica"])
    assert len(seen) == 2, f"only replica {seen} answered in 60 s"


def test_an_acknowledged_bulletin_is_answered_by_both_replicas(served):
    with httpx.Client(timeout=60) as http:
        response = http.post(served + "/bulletins", headers=AUTH, json={
            "title": "Zebra census in the Serengeti",
            "text": "The wildlife authority counted 4,321 zebras in the Serengeti during the 2023 census."})
    assert response.status_code == 201, response.text
    seen = _replicas_answering(served, "How many zebras were counted in the Serengeti?", "4,321")
    assert max(seen.values()) < PROPAGATION_LIMIT_S, seen
    print(f"acknowledged write answered by every replica after {max(seen.values()):.2f} s")


@dataclass
class Call:
    started: float
    ended: float
    status: int  # 0: no HTTP response
    replica: str


async def _asker(http, url, stop, calls):
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = await http.post(url + "/ask", json={"question": "What did the IPCC release?"})
            status, replica = response.status_code, response.headers.get("x-replica", "")
        except httpx.HTTPError:
            status, replica = 0, ""
        calls.append(Call(started, time.monotonic(), status, replica))


async def _writer(http, url, stop, acknowledged, calls):
    n = 0
    while not stop.is_set():
        n += 1
        started = time.monotonic()
        try:
            response = await http.post(url + "/bulletins", headers=AUTH, json={
                "title": f"Load bulletin {n}", "text": f"Reservoir number {n} holds {n * 1000 + 7} cubic metres."})
            status = response.status_code
            if status == 201:
                acknowledged.append(response.json()["id"])
        except httpx.HTTPError:
            status = 0
        calls.append(Call(started, time.monotonic(), status, ""))


def _replica_actor(replica: str):
    import ray

    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith("SERVE_REPLICA") and actor["name"].endswith(replica):
            return ray.get_actor(actor["name"], namespace=actor["namespace"])
    raise AssertionError(f"no replica actor named after {replica}")


def _kill(handle) -> float:
    """Kill the replica's actor (its process ends); returns when Ray reports it dead."""
    import ray

    ray.kill(handle)
    while True:
        try:
            ray.get(handle.__ray_ready__.remote(), timeout=0.05)
        except ray.exceptions.GetTimeoutError:
            continue
        except ray.exceptions.RayActorError:
            return time.monotonic()


def test_killing_a_replica_under_load_loses_no_acknowledged_write(served):
    async def scenario():
        calls: list[Call] = []
        acknowledged: list[str] = []
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=60) as http:
            tasks = [asyncio.create_task(_asker(http, served, stop, calls)) for _ in range(CLIENTS - 1)]
            tasks.append(asyncio.create_task(_writer(http, served, stop, acknowledged, calls)))
            while len({c.replica for c in calls if c.replica}) < 2:
                await asyncio.sleep(0.2)
            originals = {c.replica for c in calls if c.replica}
            handle = await asyncio.to_thread(_replica_actor, sorted(originals)[0])
            killed_at = time.monotonic()
            dead_by = await asyncio.to_thread(_kill, handle)  # it died between killed_at and dead_by
            # load goes on until Ray has replaced the replica and the replacement answers
            deadline = killed_at + 180
            while not ({c.replica for c in calls if c.started > killed_at} - originals):
                assert time.monotonic() < deadline, "the killed replica was not replaced"
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*tasks)
        return calls, acknowledged, (killed_at, dead_by)

    calls, acknowledged, (killed_at, dead_by) = asyncio.run(scenario())
    in_flight = [c for c in calls if c.started <= dead_by and c.ended >= killed_at]
    failed = [c for c in calls if c.status == 0 or c.status >= 500]
    print(f"{len(calls)} requests, {len(in_flight)} in flight during the kill ({dead_by - killed_at:.2f} s), {len(failed)} failed, "
          f"{len(acknowledged)} writes acknowledged")
    assert len(calls) > 20 and acknowledged
    # the only failures are requests that were in flight when the replica died
    assert all(c in in_flight for c in failed), (killed_at, dead_by, failed)
    assert len(failed) <= len(in_flight) and len(failed) <= CLIENTS
    # every acknowledged write is served by every replica now running
    with httpx.Client(timeout=30) as http:
        deadline = time.monotonic() + 60
        complete: set[str] = set()
        while len(complete) < 2:
            assert time.monotonic() < deadline, f"replicas {complete} hold every acknowledged write"
            response = http.get(served + "/bulletins")
            ids = {b["id"] for b in response.json()}
            if set(acknowledged) <= ids:
                complete.add(response.headers["x-replica"])


def test_no_replicas_is_a_one_line_error():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--ray", "--replicas", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "rag: error: --replicas must be at least 1"
