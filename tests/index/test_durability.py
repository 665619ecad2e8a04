"""kill -9 at several points of a rebuild and of an add: the previous good index or the new one
survives, never a mix, and every acknowledged bulletin is served after a restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.index import store
from rag.service.lifecycle import open_engine

from helpers import SEEDS, free_port, wait_ready

pytestmark = pytest.mark.slow


def extra_bulletins(folder, count: int) -> None:
    """New bulletins, so that a rebuild has real embedding work to do."""
    for i in range(count):
        (folder / f"extra-{i:03d}.txt").write_text(
            f"Pilot Zone {i} Announced\n\nOn May {1 + i % 28}, 2024, city number {i} announced a low-carbon "
            f"pilot zone covering {100 + i} square kilometres. The zone will cut emissions by {i % 40} percent.\n",
            encoding="utf-8")


def wait_for(condition, process, timeout=120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def partial_exists(index):
    return lambda: any(p.name.endswith(".partial") for p in index.iterdir())


def partial_has_vectors(index):
    return lambda: any(p.name.endswith(".partial") and (p / "chunk_vectors.npy").exists() for p in index.iterdir())


def after(seconds):
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


@pytest.mark.parametrize("kill_when", ["after_import", "writing_started", "vectors_written"])
def test_kill_during_rebuild_leaves_a_whole_index(tmp_path, embedder, kill_when):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(SEEDS, seeds)
    settings = Settings(seeds=seeds, index=index)
    open_engine(settings, embedder)
    before = store.current_generation(index)
    extra_bulletins(seeds, 60)
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "index", "--seeds", str(seeds), "--index", str(index)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    condition = {"after_import": after(4.0), "writing_started": partial_exists(index),
                 "vectors_written": partial_has_vectors(index)}[kill_when]
    wait_for(condition, process)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    stored = store.load(index)  # never broken: the previous generation or the new one, whole
    expected = 5 if store.current_generation(index) == before else 65
    assert stored.manifest.bulletins == expected and len(stored.chunks) == len(stored.chunk_vectors)
    engine, _ = open_engine(settings, embedder)  # rebuilds what was lost, reusing cached vectors
    assert engine.index.manifest.bulletins == 65
    answer = engine.ask("How many square kilometres does pilot zone 7 cover?")
    for c in answer.citations:
        assert engine.files[c.source].text[c.char_start:c.char_end] == c.quote


def start_server(seeds, index, port):
    env = {**os.environ, "RAG_API_KEY": "k", "RAG_RATE_LIMIT_PER_MINUTE": "0"}
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--seeds", str(seeds),
                                "--index", str(index)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=PROJECT_ROOT, env=env)
    wait_ready(f"http://127.0.0.1:{port}", process)
    return process


def test_kill_during_add_keeps_every_acknowledged_bulletin(tmp_path):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(SEEDS, seeds)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer k"}
    server = start_server(seeds, index, port)
    try:
        first = httpx.post(f"{url}/bulletins", headers=auth, timeout=120, json={
            "title": "Tianjin Port Goes Electric", "text": "On May 8, 2024, Tianjin port said all its cranes now run on electricity."})
        assert first.status_code == 201
        acknowledged = first.json()["id"]
        second = threading.Thread(target=lambda: _post_quietly(url, auth))
        second.start()
        uploads = index / "uploads"
        assert wait_for(lambda: len(list(uploads.glob("*"))) >= 2, server, timeout=60)
        server.send_signal(signal.SIGKILL)  # mid-write: the second add was never acknowledged
        server.wait(30)
        second.join(60)
    finally:
        if server.poll() is None:
            server.kill()
    server = start_server(seeds, index, port)
    try:
        ids = {b["id"] for b in httpx.get(f"{url}/bulletins").json()}
        assert acknowledged in ids
        answer = httpx.post(f"{url}/ask", json={"question": "What do the cranes at Tianjin port run on?"}).json()
        assert answer["citations"][0]["bulletin_id"] == acknowledged
        assert httpx.get(f"{url}/readyz").json()["bulletins"] in (6, 7)
    finally:
        server.terminate()
        server.wait(30)


def _post_quietly(url, auth):
    try:
        httpx.post(f"{url}/bulletins", headers=auth, timeout=120, json={
            "title": "Xiamen Ferry Trial", "text": "On May 9, 2024, Xiamen began a trial of an electric ferry."})
    except httpx.HTTPError:
        pass
