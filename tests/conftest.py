"""Shared fixtures: the real bundled model and a real index of the seeds, built once per session; the
browser tests' Chromium, a real `rag serve` and a second loopback origin that embeds the widget."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.service.engine import Engine
from rag.service.lifecycle import load_embedder, open_engine

from helpers import SEEDS, free_port, rag_serve


@pytest.fixture(scope="session")
def embedder():
    return load_embedder(Settings())


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("seed-index")


@pytest.fixture(scope="session")
def settings(seed_index) -> Settings:
    return Settings(seeds=SEEDS, index=seed_index)


@pytest.fixture(scope="session")
def engine(settings, embedder) -> Engine:
    engine, _ = open_engine(settings, embedder)
    return engine


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private copy of the seeds that a test may change."""
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    return folder


# ---- the browser tests (marked browser): Debian's headless Chromium driven by Playwright ------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# A host page that styles everything it can reach: none of it may show inside the widget, and the widget's
# own styles may not reach the page's button.
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A partner site</title><link rel="icon" href="data:,">
<style>
  * {{ font-family: "Courier New", monospace !important; color: rgb(255, 0, 0); letter-spacing: 3px; }}
  html {{ font-size: 10px; }}
  button {{ background: rgb(255, 105, 180); border: 5px solid lime; }}
  .launcher, .panel, input {{ display: none; background: black; }}
  body {{ margin: 0; padding: 24px; }}
</style></head>
<body><h1>A partner site</h1><p>News about the climate, with our assistant below.</p>
<button id="own">The page's own button</button>
<script src="{api}/widget.js" data-api="{data_api}" defer></script>
</body></html>
"""


@pytest.fixture(scope="module")
def host_site(tmp_path_factory):
    """Another origin (another loopback port) serving pages that embed the widget."""
    folder = tmp_path_factory.mktemp("host-site")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server(host_site, tmp_path_factory):
    """`rag serve` over the seeds on loopback, allowing the host site's origin; the host site's
    ``embed.html`` embeds the widget, ``down.html`` embeds it with an API where nothing listens."""
    folder, origin = host_site
    index = tmp_path_factory.mktemp("widget-index")
    env = {**os.environ, "RAG_CORS_ORIGINS": origin, "RAG_RATE_LIMIT_PER_MINUTE": "0"}
    with rag_serve("--index", str(index), env=env, cwd=PROJECT_ROOT) as port:
        api = f"http://127.0.0.1:{port}"
        closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the API is "down"
        (folder / "embed.html").write_text(HOST_PAGE.format(api=api, data_api=api), encoding="utf-8")
        (folder / "down.html").write_text(HOST_PAGE.format(api=api, data_api=closed), encoding="utf-8")
        yield api


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does")
    # An answer on a busy two-core machine; every wait returns as soon as its condition holds.
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        # launch() gives the browser a new, empty --user-data-dir of its own
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors
