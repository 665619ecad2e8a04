"""The chat page and the embeddable widget in Debian's headless Chromium, driven by Playwright, against a real
`rag serve` process on loopback. A second loopback origin serves the host pages that embed the widget (CORS).

Set WIDGET_SHOTS=/some/folder to save a screenshot of each state."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from helpers import COMMITTEE, FIFA, FOLLOW_UP, IPCC, answers, ask, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_page_answers_with_a_citation_and_opens_the_highlighted_source(page, server):
    page.goto(server + "/")
    box = page.get_by_label("Your question about the bulletins")
    expect(box).to_be_focused()

    held = []  # hold the request to see the pending state, then let it through
    page.route("**/chat", lambda route: held.append(route))
    ask(page, IPCC)
    expect(page.locator(".pending")).to_contain_text("Searching the bulletins")
    expect(box).to_be_disabled()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    shoot(page, "0-pending")
    held[0].continue_()
    page.unroute("**/chat")

    answer = answers(page).last
    expect(answer).to_contain_text("Interlaken")
    expect(answer.locator("strong.span")).to_have_text("Interlaken, Switzerland")
    expect(page.locator(".pending")).to_have_count(0)
    expect(box).to_be_enabled()
    expect(box).to_be_focused()
    shoot(page, "1-answer")

    expected = httpx.post(server + "/chat", json={"messages": [{"role": "user", "content": IPCC}]}).json()
    first = expected["citations"][0]
    cite = answer.get_by_role("button", name=f"Source 1: {first['title']}")
    cite.click()
    source = page.get_by_role("dialog", name=first["title"])
    expect(source).to_be_visible()
    expect(source).to_contain_text("20 March")  # the bulletin says "On March 20" and no year
    expect(source).not_to_contain_text("20 March 20")
    mark = source.locator("mark")
    expect(mark).to_have_text(first["quote"])
    expect(mark).to_be_in_viewport()
    expect(page.get_by_role("button", name="Back to the conversation")).to_be_focused()
    shoot(page, "2-source")

    page.keyboard.press("Escape")
    expect(source).to_be_hidden()
    expect(cite).to_be_focused()


def test_follow_up_uses_the_earlier_turns_and_new_conversation_starts_over(page, server):
    page.goto(server + "/")
    ask(page, COMMITTEE)
    expect(answers(page).last).to_contain_text("Liu Zhongmin")
    ask(page, FOLLOW_UP)
    expect(answers(page)).to_have_count(2)
    follow = answers(page).last
    expect(follow).to_contain_text("Zhang Yudong")
    expect(follow.locator(".searched")).to_contain_text("Committee")
    expect(page.locator(".msg.user")).to_have_text([f"You asked: {COMMITTEE}", f"You asked: {FOLLOW_UP}"])
    shoot(page, "3-follow-up")

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.get_by_label("Your question about the bulletins")).to_be_focused()
    ask(page, FOLLOW_UP)  # with no earlier turn it is not about the committee any more
    expect(answers(page)).to_have_count(1)
    expect(answers(page)).not_to_contain_text("Searched for")


def test_abstention_says_so_and_lists_the_nearest_passages(page, server):
    page.goto(server + "/")
    ask(page, FIFA)
    abstained = page.locator("article.abstained")
    expect(abstained).to_contain_text("The bulletins don't say")
    passages = abstained.get_by_role("list", name="Nearest passages").get_by_role("listitem")
    expect(passages.first).to_be_visible()
    assert passages.count() >= 1
    expect(abstained.locator("button.cite")).to_have_count(0)
    shoot(page, "4-abstention")

    passages.first.get_by_role("button").click()
    expect(page.locator(".source mark")).not_to_be_empty()


def test_api_down_shows_a_clear_error_and_the_chat_recovers(page, server, host_site):
    _, origin = host_site
    page.goto(origin + "/down.html")
    page.get_by_role("button", name="Ask the bulletins").click()
    ask(page, IPCC)
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Can't reach the bulletin service")
    expect(page.get_by_label("Your question about the bulletins")).to_be_enabled()
    shoot(page, "5-error-api-down")


def test_a_refused_question_shows_the_servers_message(page, server):
    page.goto(server + "/")
    box = page.get_by_label("Your question about the bulletins")
    box.evaluate("(input, text) => { input.value = text; }", "x" * 2001)  # past maxlength, as a script could
    box.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("limit is 2000")
    expect(page.get_by_role("alert")).to_contain_text("request ")
    shoot(page, "6-error-4xx")


def test_embed_tag_on_another_origin_opens_and_answers_without_style_leaks(page, server, host_site):
    _, origin = host_site
    page.goto(origin + "/embed.html")
    launcher = page.get_by_role("button", name="Ask the bulletins")
    expect(launcher).to_be_visible()
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(255, 105, 180)"
    assert "Courier" not in launcher.evaluate("b => getComputedStyle(b).fontFamily")
    own = page.locator("#own")
    assert own.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(255, 105, 180)"
    assert "Courier" in own.evaluate("b => getComputedStyle(b).fontFamily")

    launcher.press("Enter")  # keyboard only from here
    expect(launcher).to_have_attribute("aria-expanded", "true")
    panel = page.get_by_role("dialog", name="Ask the bulletins")
    expect(panel).to_be_visible()
    box = page.get_by_label("Your question about the bulletins")
    expect(box).to_be_focused()
    box.type(IPCC)
    box.press("Enter")
    expect(answers(page).last).to_contain_text("Interlaken")
    expect(box).to_be_focused()
    shoot(page, "7-embedded")

    for _ in range(15):  # Shift+Tab back from the question box to the answer's last citation
        page.keyboard.press("Shift+Tab")
        if _focused_class(page) == "cite":
            break
    assert _focused_class(page) == "cite"
    page.keyboard.press("Enter")
    expected = httpx.post(server + "/chat", json={"messages": [{"role": "user", "content": IPCC}]}).json()
    expect(page.locator(".source mark")).to_have_text(expected["citations"][-1]["quote"])
    expect(page.get_by_role("button", name="Back to the conversation")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".source")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def _focused_class(page: Page) -> str:
    return page.evaluate("""() => {
        let node = document.activeElement;
        while (node && node.shadowRoot && node.shadowRoot.activeElement) node = node.shadowRoot.activeElement;
        return node ? node.className : "";
    }""")


def _overflow(page: Page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_layout_at_375_pixels(page, server, host_site):
    _, origin = host_site
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(server + "/")
    ask(page, COMMITTEE)
    expect(answers(page).last).to_contain_text("Liu Zhongmin")
    ask(page, FIFA)
    expect(page.locator("article.abstained")).to_be_visible()
    assert _overflow(page) == 0
    for bubble in page.locator(".msg").all():
        box = bubble.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    shoot(page, "8-page-375")
    answers(page).first.locator("button.cite").last.click()  # the bulletin's last sentence: scrolled to
    expect(page.locator(".source mark")).to_be_in_viewport()
    assert _overflow(page) == 0
    shoot(page, "9-source-375")

    page.goto(origin + "/embed.html")
    page.get_by_role("button", name="Ask the bulletins").click()
    ask(page, IPCC)
    expect(answers(page).last).to_contain_text("Interlaken")
    panel = page.get_by_role("dialog", name="Ask the bulletins").bounding_box()
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 375, panel
    assert _overflow(page) == 0
    shoot(page, "10-embedded-375")


def test_html_in_a_question_is_shown_as_text(page, server):
    page.goto(server + "/")
    question = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>Who</b> leads the committee?'
    ask(page, question)
    expect(page.locator(".msg.user")).to_have_text(f"You asked: {question}")
    expect(answers(page)).to_have_count(1)
    assert page.locator("bulletin-chat img, bulletin-chat b, bulletin-chat script").count() == 0
    assert page.evaluate("() => window.pwned") is None
    shoot(page, "11-html-as-text")


# ---- customisation from the script tag, copying, what the log announces, the page under its CSP ------------

CUSTOM_PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>气候新闻</title><link rel="icon" href="data:,">
<style>bulletin-chat {{ --bc-accent: rgb(95, 212, 160); --bc-accent-hover: rgb(130, 225, 182); }}</style></head>
<body><main><h1>气候新闻</h1><p>本站的简报助手在右下角。</p></main>
<script src="{api}/widget.js" data-api="{api}" data-title="气候问答" data-greeting="你好！可以问我本月的气候政策。"
        data-suggestions="{first}|{second}" data-lang="zh" data-theme="dark" defer></script>
</body></html>
"""


@pytest.fixture(scope="module")
def custom_page(server, host_site):
    folder, origin = host_site
    (folder / "custom.html").write_text(CUSTOM_PAGE.format(api=server, first=IPCC, second=COMMITTEE), encoding="utf-8")
    return origin + "/custom.html"


def test_title_greeting_suggestions_language_theme_and_colours_from_the_tag(page, custom_page):
    page.goto(custom_page)
    launcher = page.get_by_role("button", name="气候问答")
    expect(launcher).to_be_visible()
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(95, 212, 160)"
    launcher.click()
    panel = page.get_by_role("dialog", name="气候问答")
    expect(panel).to_contain_text("你好！可以问我本月的气候政策。")
    assert panel.evaluate("p => getComputedStyle(p).backgroundColor") == "rgb(27, 31, 39)"  # dark
    expect(page.get_by_role("button", name="新对话")).to_be_visible()
    expect(page.get_by_label("关于简报的问题")).to_have_attribute("placeholder", "输入问题…")
    starters = page.get_by_role("list", name="推荐问题").get_by_role("button")
    expect(starters).to_have_text([IPCC, COMMITTEE])
    shoot(page, "12-custom-zh-dark")
    starters.first.click()
    expect(answers(page).last).to_contain_text("Interlaken")
    expect(page.get_by_role("list", name="推荐问题")).to_have_count(0)  # starters are for an empty conversation
    expect(answers(page).last.get_by_role("button", name="复制回答")).to_be_visible()
    expect(page.get_by_label("关于简报的问题")).to_be_focused()
    shoot(page, "13-custom-zh-answer")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()


def test_copy_puts_the_answer_and_its_sources_on_the_clipboard(browser, server):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    try:
        page.goto(server + "/")
        ask(page, IPCC)
        answer = answers(page).last
        expect(answer).to_contain_text("Interlaken")
        copy = answer.locator("button.copy")
        expect(copy).to_have_accessible_name("Copy answer")
        copy.click()
        expect(copy).to_have_text("Copied")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        data = httpx.post(server + "/chat", json={"messages": [{"role": "user", "content": IPCC}]}).json()
        sources = "\n".join(f"[{c['n']}] {c['title']} ({c['source']})" for c in data["citations"])
        assert copied == f"{data['answer']}\n\nSources:\n{sources}"
    finally:
        context.close()


def test_the_log_is_polite_and_announces_answers_only(page, server):
    page.goto(server + "/")
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("aria-live", "polite")
    ask(page, IPCC)
    expect(answers(page).last).to_contain_text("Interlaken")
    snapshot = log.aria_snapshot()
    assert "Interlaken" in snapshot and "You asked" not in snapshot and "Searching" not in snapshot
    expect(page.get_by_role("article", name=f"Answer to: {IPCC}")).to_be_visible()


def test_the_page_runs_under_its_csp_without_console_errors(browser, server):
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        cited = httpx.post(server + "/ask", json={"question": IPCC}).json()["citations"][0]
        # a source link of the page without JavaScript: the chat asks ?q= and opens the source
        response = page.goto(f"{server}/?{urlencode({'q': IPCC, 'source': cited['bulletin_id']})}"
                             f"&start={cited['char_start']}&end={cited['char_end']}")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(answers(page).last).to_contain_text("Interlaken")
        expect(page.locator(".source mark")).to_have_text(cited["quote"])
        page.keyboard.press("Escape")
        expect(page.locator(".source")).to_be_hidden()
        expect(page.get_by_label("Your question about the bulletins")).to_be_focused()
        answers(page).last.locator("button.cite").first.click()
        expect(page.locator(".source mark")).not_to_be_empty()
        assert not problems, problems
    finally:
        context.close()


def test_a_question_in_chinese_is_told_in_chinese_that_the_quotes_are_english(page, server):
    page.goto(server + "/")
    ask(page, "IPCC 在哪里发布了综合报告？")
    answer = answers(page).last
    expect(answer).to_contain_text("Interlaken")
    note = answer.locator(".quotes-lang")
    expect(note).to_have_text("引文为简报英文原文。")
    expect(note).to_have_attribute("lang", "zh")
    shoot(page, "9-chinese-question")
