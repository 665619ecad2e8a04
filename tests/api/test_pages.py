"""The page at / without JavaScript (server-rendered, escaped) and the security headers on every response."""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape, unescape

import pytest
from fastapi.testclient import TestClient

from api import pages
from api.app import create_app

from helpers import FIFA, IPCC, shoot


@pytest.fixture(scope="module")
def client(engine, settings):
    with TestClient(create_app(settings.with_(rate_limit_per_minute=0), engine)) as c:
        yield c


def links(html: str, cls: str | None = None) -> list[str]:
    pattern = rf'<a class="{cls}" href="([^"]+)"' if cls else r'<a href="([^"]+)"'
    return [unescape(href) for href in re.findall(pattern, html)]


def test_the_empty_page_is_a_get_form_with_real_suggestions(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<form class="ask" method="get" action="./"' in html and 'name="q"' in html
    assert "<style" not in html and "style=" not in html and "<script>" not in html  # nothing inline
    for question in pages.SUGGESTIONS:
        assert question in html
    suggested = links(html.split('class="suggestions"')[1])
    assert len(suggested) == len(pages.SUGGESTIONS) and all(link.startswith("./?q=") for link in suggested)


def test_a_question_is_answered_in_the_page_with_source_links(client, engine):
    html = client.get("/", params={"q": IPCC}).text
    answer = engine.ask(IPCC)
    assert "Interlaken, Switzerland" in html and 'id="answer"' in html
    cites = links(html, "cite")
    assert len(cites) == len(answer.citations)
    for link, citation in zip(cites, answer.citations):
        assert link.endswith("#source")
        source_page = client.get("/" + link.removeprefix("./").removesuffix("#source")).text
        marked = re.search(r"<mark>(.*?)</mark>", source_page, re.S).group(1)
        assert unescape(marked) == citation.quote
        assert unescape(marked) == engine.files[citation.source].text[citation.char_start:citation.char_end]
        assert f'<h2 id="source-title">{escape(citation.title)}</h2>' in source_page
        assert "Back to the answer" in source_page


def test_an_abstention_says_so_and_links_the_nearest_passages(client):
    html = client.get("/", params={"q": FIFA}).text
    assert "The bulletins don't say." in html and 'aria-label="Nearest passages"' in html
    assert 'class="cite"' not in html
    nearest = re.findall(r'<ul class="passages"[^>]*>(.*)</ul>', html, re.S)[0]
    first = links(nearest)[0]
    assert "<mark>" in client.get("/" + first.removeprefix("./").removesuffix("#source")).text


def test_a_question_in_chinese_is_told_the_quotes_are_in_english(client):
    html = client.get("/", params={"q": "IPCC 在哪里发布了综合报告？"}).text
    assert "Interlaken" in html and '<p class="quotes-lang" lang="zh">引文为简报英文原文。</p>' in html
    assert "quotes-lang" not in client.get("/", params={"q": IPCC}).text  # not for English questions


def test_text_from_the_user_is_escaped(client):
    question = '"><script>alert(1)</script><img src=x onerror=alert(2)> Where did the IPCC release its report?'
    html = client.get("/", params={"q": question}).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'value="&quot;&gt;&lt;script&gt;' in html


@pytest.mark.parametrize("params, status, fragment", [
    ({"q": "x" * 2001}, 422, "limit is 2000"),
    ({"q": IPCC, "source": "no-such-bulletin"}, 404, "unknown bulletin id"),
    ({"q": IPCC, "source": "../../etc/passwd"}, 404, "unknown bulletin id"),
])
def test_refusals_render_in_the_page(client, params, status, fragment):
    response = client.get("/", params=params)
    assert response.status_code == status
    assert 'role="alert"' in response.text and fragment in response.text
    assert "/work" not in response.text


def test_odd_offsets_never_break_the_source_view(client, engine):
    bulletin = engine.index.bulletins[0]
    for start, end in [("-5", "x"), ("999999999999999", "1"), (str(bulletin.char_end), str(bulletin.char_start))]:
        response = client.get("/", params={"source": bulletin.id, "start": start, "end": end})
        assert response.status_code == 200 and bulletin.title in response.text


def test_a_read_key_guards_the_answers_in_the_page(engine, settings):
    with TestClient(create_app(settings.with_(read_key="r3ad", rate_limit_per_minute=0), engine)) as c:
        assert c.get("/").status_code == 200  # the form itself
        assert c.get("/", params={"q": IPCC}).status_code == 401
        ok = c.get("/", params={"q": IPCC}, headers={"Authorization": "Bearer r3ad"})
        assert ok.status_code == 200 and "Interlaken" in ok.text


STRICT = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


@pytest.mark.parametrize("path", ["/", f"/?q={IPCC}", "/widget.js", "/widget.css", "/page.css", "/bulletins",
                                  "/nope", "/openapi.json"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response.headers["content-security-policy"] == STRICT
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_frame_ancestors_are_configurable(engine, settings):
    framed = settings.with_(frame_ancestors=("https://news.example", "https://partner.example"))
    with TestClient(create_app(framed, engine)) as c:
        response = c.get("/")
    assert response.headers["content-security-policy"].endswith(
        "frame-ancestors https://news.example https://partner.example")
    assert "x-frame-options" not in response.headers


def test_the_api_docs_get_the_hashes_of_their_own_inline_scripts(client):
    response = client.get("/docs")
    policy = response.headers["content-security-policy"]
    (inline,) = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert policy.endswith("frame-ancestors 'none'")


# ---- in Chromium with JavaScript off (the browser fixtures are in conftest.py) ----------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_without_javascript_the_form_answers_and_the_source_opens(browser, server):
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 760})
    page = context.new_page()
    try:
        page.goto(server + "/")
        expect(page.get_by_role("link", name=pages.SUGGESTIONS[1])).to_be_visible()
        box = page.get_by_label("Your question about the bulletins")
        box.fill(IPCC)
        box.press("Enter")
        expect(page.locator("#answer")).to_contain_text("Interlaken, Switzerland")
        assert "?q=Where+did+the+IPCC" in page.url
        shoot(page, "20-nojs-answer")
        page.locator("#answer a.cite").first.click()
        source = page.get_by_role("region", name="IPCC", exact=False)
        expect(page.locator("#source mark")).to_contain_text("Interlaken, Switzerland")
        expect(page.locator("#source mark")).to_be_in_viewport()
        shoot(page, "21-nojs-source")
        page.get_by_role("link", name="Back to the answer").click()
        expect(page.locator("#answer")).to_be_visible()
        assert source  # the source section is a labelled region
    finally:
        context.close()
