"""WCAG 2.2 AA checked by a real engine: axe-core (tests/vendor/axe.min.js) in Chromium, on every state of the
page (with JavaScript and without), the source views and the embedded widget, in light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from helpers import COMMITTEE, FIFA, IPCC, answers, ask, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = (Path(__file__).parent.parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

EMBED_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A partner site</title><link rel="icon" href="data:,"></head>
<body><main><h1>A partner site</h1><p>News about the climate, with the bulletin assistant.</p></main>
<script src="{api}/widget.js" data-api="{api}" data-lang="{lang}" data-suggestions="{suggestions}" defer></script>
</body></html>
"""


@pytest.fixture(scope="module")
def embeds(server, host_site):
    folder, origin = host_site
    for lang in ("en", "zh"):
        (folder / f"a11y-{lang}.html").write_text(
            EMBED_PAGE.format(api=server, lang=lang, suggestions=f"{IPCC}|{COMMITTEE}"), encoding="utf-8")
    return {lang: f"{origin}/a11y-{lang}.html" for lang in ("en", "zh")}


@pytest.fixture(params=["light", "dark"])
def scheme(request) -> str:
    return request.param


@pytest.fixture
def tab(browser, scheme):
    context = browser.new_context(viewport={"width": 1000, "height": 760}, color_scheme=scheme)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def tab_without_widget(browser, scheme):
    """The page as it is without JavaScript: widget.js never arrives. (Scripts stay on for axe itself: with
    JavaScript disabled, Playwright's evaluate() waits for ever; test_pages.py drives a page with it off.)"""
    context = browser.new_context(viewport={"width": 1000, "height": 760}, color_scheme=scheme)
    context.route("**/widget.js", lambda route: route.abort())
    page = context.new_page()
    yield page
    context.close()


def violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.2 AA violations on the page as it stands (open shadow roots included).
    evaluate() runs outside the page's CSP, as an extension's script would; the page itself stays strict."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE)
    found = page.evaluate("""async (tags) => {
        const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
        return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ` +
            v.nodes.slice(0, 3).map((n) => `${JSON.stringify(n.target)} ${n.failureSummary}`).join(" | "));
    }""", TAGS)
    return found


def check(page: Page, name: str, scheme: str) -> None:
    shoot(page, f"a11y-{name}-{scheme}")
    assert violations(page) == []


def test_page_with_javascript(tab, server, scheme):
    tab.goto(server + "/")
    box = tab.get_by_label("Your question about the bulletins")
    expect(box).to_be_focused()
    expect(tab.get_by_role("list", name="Suggested questions")).to_be_visible()
    check(tab, "empty", scheme)
    ask(tab, IPCC)
    expect(answers(tab).last).to_contain_text("Interlaken")
    check(tab, "answer", scheme)
    answers(tab).last.locator("button.cite").first.click()
    expect(tab.locator(".source mark")).not_to_be_empty()
    check(tab, "source", scheme)
    tab.keyboard.press("Escape")
    ask(tab, FIFA)
    expect(tab.locator("article.abstained")).to_be_visible()
    check(tab, "abstention", scheme)


def test_page_without_javascript(tab_without_widget, server, scheme):
    page = tab_without_widget
    page.goto(server + "/")
    check(page, "nojs-empty", scheme)
    page.goto(server + "/?q=" + IPCC.replace(" ", "+"))
    expect(page.locator("#answer")).to_contain_text("Interlaken")
    check(page, "nojs-answer", scheme)
    page.locator("#answer a.cite").first.click()
    expect(page.locator("#source mark")).to_be_visible()
    check(page, "nojs-source", scheme)
    page.goto(server + "/?q=" + FIFA.replace(" ", "+"))
    expect(page.locator(".abstained")).to_be_visible()
    check(page, "nojs-abstention", scheme)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_embedded_widget(tab, embeds, scheme, lang):
    tab.goto(embeds[lang])
    launcher = tab.locator("bulletin-chat .launcher")
    expect(launcher).to_be_visible()
    check(tab, f"embed-closed-{lang}", scheme)
    launcher.click()
    tab.locator("bulletin-chat .suggestion").first.click()
    expect(answers(tab).last).to_contain_text("Interlaken")
    check(tab, f"embed-answer-{lang}", scheme)
    answers(tab).last.locator("button.cite").first.click()
    expect(tab.locator(".source mark")).not_to_be_empty()
    check(tab, f"embed-source-{lang}", scheme)
    tab.keyboard.press("Escape")
    tab.keyboard.press("Escape")
    expect(launcher).to_be_focused()
