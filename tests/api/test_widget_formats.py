"""The widget's source view for a bulletin read from a PDF, in headless Chromium against a real `rag serve`:
the cited sentence highlighted in the extracted text, and a link to the original PDF at the cited page."""

from __future__ import annotations

import os
import shutil

import httpx
import pytest
from playwright.sync_api import expect

from rag.config import PROJECT_ROOT

from helpers import SEED_FILE, answers, ask, rag_serve, shoot
from helpers_documents import FUJIAN_PAGES, pdf_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]
QUESTION = "Which company led the winning bids in the Fujian offshore wind auction?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("widget-formats")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    (seeds / "fujian-auction.pdf").write_bytes(pdf_bytes(FUJIAN_PAGES))
    env = {**os.environ, "RAG_RATE_LIMIT_PER_MINUTE": "0"}
    with rag_serve("--seeds", str(seeds), "--index", str(root / "index"), env=env, cwd=PROJECT_ROOT) as port:
        yield f"http://127.0.0.1:{port}"


def test_a_pdf_citation_opens_the_extracted_text_and_links_to_the_page(page, server):
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
