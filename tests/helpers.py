"""Helpers the tests share: the seeds and the questions they ask, a writable app over a copy of the seeds,
a free loopback port, a real `rag serve` process, and the browser tests' steps (ask on the page, its
answers, a screenshot). Fixtures are in conftest.py."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from rag.config import PROJECT_ROOT, Settings

SEEDS = PROJECT_ROOT / "seeds"
SEED_FILE = SEEDS / "china-carbon-neutrality-2023-03.txt"
# The user's digest: its five headlines as written (non-breaking spaces read as spaces).
SEED_TITLES = [
    "The National carbon neutrality Science and Technology Expert Committee was established",
    "Ministry of Industry and Information Technology: Iron and steel, non-ferrous metals, building materials, "
    "petrochemical and chemical industries have all formulated carbon peak plans",
    'The Ministry of Ecology and Environment issued the "Notice on Doing a Good Job in the Allocation of '
    'National Carbon Emissions Trading Quotas in 2021 and 2022"',
    'IPCC Releases Sixth Assessment Report "Synthesis Report"',
    'The Ministry of Ecology and Environment issued the "Letter on the Public Collection of Methodological '
    'Suggestions for Greenhouse Gas Voluntary Emission Reduction Projects"',
]
IPCC = "Where did the IPCC release its Synthesis Report?"
COMMITTEE = "Who leads the National Carbon Neutrality Science and Technology Expert Committee?"
FOLLOW_UP = "And who presided over it?"
FIFA = "Who won the 2022 FIFA World Cup?"
SHOTS = os.environ.get("WIDGET_SHOTS")  # a folder: the browser tests save a screenshot of each state there


AUTH = {"Authorization": "Bearer s3cret"}  # the write key of ``writable_client``


@contextmanager
def writable_client(root: Path, embedder, **settings):
    """A TestClient of an app that may write: a private copy of the seeds under ``root``, the API key
    of ``AUTH``, no rate limit, and ``settings`` on top. The client carries ``settings`` and ``root``."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from rag.service.lifecycle import open_engine

    shutil.copytree(SEEDS, root / "seeds")
    settings = Settings(seeds=root / "seeds", index=root / "index", api_key="s3cret", rate_limit_per_minute=0,
                        **settings)
    engine, _ = open_engine(settings, embedder)
    with TestClient(create_app(settings, engine)) as client:
        client.settings, client.root = settings, root
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


@contextmanager
def rag_serve(*args: str, env: dict | None = None, cwd=None):
    """A real `rag serve` on a free loopback port with ``args``; yields the port once it is ready."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        process.terminate()
        process.wait(30)


# ---- in the browser (tests marked browser; the fixtures are in conftest.py) ----------------------------------

def shoot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def ask(page, question: str) -> None:
    from playwright.sync_api import expect

    box = page.get_by_label("Your question about the bulletins")
    expect(box).to_be_enabled()
    box.fill(question)
    box.press("Enter")


def answers(page):
    return page.locator("article.bot")


# ---- the answer model's tests (tests/answer, tests/eval) ----------------------------------------------------

QUESTION = "When did the committee approve the new carbon market rules?"
ANSWER_SENTENCE = "The committee approved the new carbon market rules on 14 March 2021 after a long debate."
UNRELATED = "Heavy rain flooded several villages in the south of the province last week."
LONG_SENTENCE = (  # 81 word pieces, the answer in its last ones
    "On March 1, in order to carry out the national plan for cutting emissions in industry, transport, "
    "buildings and farming over the coming decade (hereinafter referred to as the \"Plan\"), and to bring "
    "together the research institutes, universities, provincial governments and companies that work on clean "
    "energy, grid storage and carbon capture, the ministry held the first meeting of its new expert committee "
    "in Lyon.")

# A tiny SQuAD file: 6 articles of 4 paragraphs, two questions each (the training data's tests).
TINY_SQUAD = {"data": [
    {"title": f"Article_{a}", "paragraphs": [
        {"context": f"Town {a}{p} was founded in {1800 + 10 * a + p} by Mary Smith. It has {100 + p} schools. "
                    f"The river Avon {a} runs through Town {a}{p}.",
         "qas": [{"id": f"q-{a}-{p}-0", "question": f"When was Town {a}{p} founded?",
                  "answers": [{"text": str(1800 + 10 * a + p), "answer_start": 0}]},
                 {"id": f"q-{a}-{p}-1", "question": f"How many schools does Town {a}{p} have?",
                  "answers": [{"text": str(100 + p), "answer_start": 0}]}]}
        for p in range(4)]}
    for a in range(6)]}

# A SQuAD file of two paragraphs whose questions a swap can make unanswerable (tests/eval).
TOWNS_SQUAD = {"data": [
    {"title": "Rivers", "paragraphs": [
        {"context": "Town 11 was founded in 1811 by Mary Smith. The river Avon runs through Town 11.",
         "qas": [{"id": "a", "question": "Who founded Town 11 in 1811?",
                  "answers": [{"text": "Mary Smith", "answer_start": 30}]},
                 {"id": "b", "question": "Which river runs through the town?",
                  "answers": [{"text": "Avon", "answer_start": 57}]}]},
        {"context": "Town 12 was founded in 1812 by John Brown. Town 12 has 104 schools.",
         "qas": [{"id": "c", "question": "How many schools does Town 12 have?",
                  "answers": [{"text": "104", "answer_start": 50}]}]}]}]}
