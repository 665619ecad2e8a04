"""The widget's source view for a bulletin read from a PDF, in headless Chromium against a real `rag serve`:
the cited sentence highlighted in the extracted text, and a link to the original PDF at the cited page."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import expect

from rag.config import PROJECT_ROOT

from conftest import SEED_FILE
from helpers_documents import pdf_bytes
from helpers import free_port, wait_ready
from test_widget import ask, answers, browser, page, shoot  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
QUESTION = "Which company led the winning bids in the Fujian offshore wind auction?"
PAGES = [["Offshore Wind Auction Held in Fujian",
          "On June 12, 2024, Fujian province held an auction for six offshore wind sites near Pingtan."],
         ["The winning bids came from three state-owned power companies, led by China Three Gorges."]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("widget-formats")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    (seeds / "fujian-auction.pdf").write_bytes(pdf_bytes(PAGES))
    port = free_port()
    env = {**os.environ, "RAG_RATE_LIMIT_PER_MINUTE": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--seeds", str(seeds), "--index",
         str(root / "index")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
        env=env)
    try:
        api = f"http://127.0.0.1:{port}"
        wait_ready(api, process)
        yield api
    finally:
        process.terminate()
        process.wait(30)


def test_a_pdf_citation_opens_the_extracted_text_and_links_to_the_page(page, server):  # noqa: F811
    page.goto(server + "/")
    ask(page, QUESTION)
    answer = answers(page).last
    expect(answer).to_contain_text("Three Gorges")
    expected = httpx.post(server + "/chat", json={"messages": [{"role": "user", "content": QUESTION}]}).json()
    first = expected["citations"][0]
    assert first["source"].endswith("fujian-auction.pdf") and first["page"] == 2
    answer.get_by_role("button", name=f"Source 1: {first['title']}").click()
    source = page.get_by_role("dialog", name=first["title"])
    expect(source.locator("mark")).to_have_text(first["quote"])
    link = source.get_by_role("link", name="Original: fujian-auction.pdf, page 2")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href.endswith("/original#page=2")
    original = httpx.get(href.split("#")[0])
    assert original.headers["content-type"] == "application/pdf" and original.content.startswith(b"%PDF")
    shoot(page, "10-pdf-source")
