"""The page at /, rendered on the server so that it works without JavaScript.

``GET /?q=...`` answers the question in the page: the answer, its numbered sources and, after
``&source=<bulletin>&start=&end=``, that bulletin with the cited characters marked. Every piece of text from
the corpus or the user is escaped. With JavaScript, widget.js replaces the form with the chat, which asks the
same ``q`` (see widget.js, page mode).
"""

from __future__ import annotations

import datetime as dt
import re
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from rag.errors import NotFoundError, QueryError
from rag.records import Answer, Bulletin
from rag.service.live import LiveIndex

from .routes import live_index, may_read, on_cpu

router = APIRouter(include_in_schema=False)
PAGE = Template((Path(__file__).parent / "templates" / "page.html").read_text(encoding="utf-8"))
# Starter questions about the bundled digest (seeds/): the page offers them, the widget shows them as buttons.
SUGGESTIONS = (
    "Who presided over the first meeting of the expert committee?",
    "Where did the IPCC release its Synthesis Report?",
    "When was the expert committee established?",
)
EXCERPT_CHARS = 240


def _link(**params) -> str:
    return "./?" + urlencode({k: v for k, v in params.items() if v is not None})


# Said under an answer to a question not asked in English, in the asker's language.
QUOTES_IN_ENGLISH = {"zh": "引文为简报英文原文。"}


def _date(iso: str | None) -> str:
    if iso and iso.startswith("--"):  # stated without a year ("On March 20")
        try:
            day = dt.date.fromisoformat("2000" + iso[1:])
        except ValueError:
            return escape(iso)
        return f'<time datetime="{escape(iso)}">{day.day} {day:%B}</time>'
    try:
        day = dt.date.fromisoformat(iso or "")
    except ValueError:
        return escape(iso or "")
    return f'<time datetime="{day.isoformat()}">{day.day} {day:%B %Y}</time>'


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    cut = flat[:EXCERPT_CHARS]
    return cut[:max(cut.rfind(" "), EXCERPT_CHARS - 40)] + " …"


def _source_link(question: str, bulletin_id: str, start: int, end: int) -> str:
    return escape(_link(q=question, source=bulletin_id, start=start, end=end)) + "#source"


def render_answer(question: str, answer: Answer) -> str:
    """The answer with [n] linking to its source in the page, then the numbered sources."""
    if answer.abstained:
        items = "".join(
            f'<li><a href="{_source_link(question, p.bulletin_id, p.char_start, p.char_end)}">{escape(p.title)}</a>'
            f'<p class="excerpt">{escape(_excerpt(p.text))}</p></li>' for p in answer.passages)
        nearest = (f'<p>These passages came closest:</p><ul class="passages" aria-label="Nearest passages">{items}</ul>'
                   if items else "")
        return (f'<section id="answer" class="answer abstained" aria-labelledby="answer-title">'
                f'<h2 id="answer-title">The bulletins don\'t say.</h2>'
                f'<p>No bulletin answers <q>{escape(question)}</q>.</p>{nearest}</section>')
    by_n = {c.n: c for c in answer.citations}
    parts = re.split(r"\[(\d+)\]", answer.answer)
    html = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            html.append(escape(part))
            continue
        c = by_n.get(int(part))
        html.append(f'<a class="cite" href="{_source_link(question, c.bulletin_id, c.char_start, c.char_end)}" '
                    f'aria-label="Source {c.n}: {escape(c.title)}">[{c.n}]</a>' if c else f"[{escape(part)}]")
    short = f'<p class="short">Short answer: <strong>{escape(answer.span)}</strong></p>' if answer.span else ""
    lang = getattr(answer, "lang", "en")
    if lang != "en":
        note = QUOTES_IN_ENGLISH.get(lang)
        short += (f'<p class="quotes-lang" lang="{escape(lang)}">{escape(note)}</p>' if note
                  else '<p class="quotes-lang">The quotes are in English, as the bulletins are.</p>')
    sources = "".join(
        f'<li><a href="{_source_link(question, c.bulletin_id, c.char_start, c.char_end)}">[{c.n}] {escape(c.title)}</a>'
        f'<blockquote>{escape(c.quote)}</blockquote></li>' for c in answer.citations)
    return (f'<section id="answer" class="answer" aria-labelledby="answer-title">'
            f'<h2 id="answer-title">Answer</h2><p class="asked">You asked: <q>{escape(question)}</q></p>{short}'
            f'<p class="answer-text">{"".join(html)}</p>'
            f'<h3>Sources</h3><ol class="sources">{sources}</ol></section>')


def render_source(question: str, bulletin: Bulletin, text: str, start: int | None, end: int | None) -> str:
    """One bulletin; characters ``start:end`` of its file (offsets as in citations) marked."""
    lo = 0 if start is None else min(max(start - bulletin.char_start, 0), len(text))
    hi = lo if end is None else min(max(end - bulletin.char_start, lo), len(text))
    body = escape(text[:lo]) + (f"<mark>{escape(text[lo:hi])}</mark>" if hi > lo else "") + escape(text[hi:])
    meta = " · ".join(part for part in (_date(bulletin.date), escape(bulletin.source)) if part)
    back = f'<p><a href="{escape(_link(q=question))}#answer">Back to the answer</a></p>' if question else ""
    return (f'<section id="source" class="source" aria-labelledby="source-title">'
            f'<h2 id="source-title">{escape(bulletin.title)}</h2><p class="meta">{meta}</p>'
            f'<div class="source-text">{body}</div>{back}</section>')


def render_suggestions() -> str:
    items = "".join(f'<li><a href="{escape(_link(q=q))}">{escape(q)}</a></li>' for q in SUGGESTIONS)
    return f'<section class="suggestions" aria-labelledby="try"><h2 id="try">Try asking</h2><ul>{items}</ul></section>'


def render_error(message: str) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>'


def render_page(question: str = "", body: str = "") -> str:
    return PAGE.substitute(title=escape(f"{question} · Ask the bulletins" if question else "Ask the bulletins"),
                           question=escape(question), body=body or render_suggestions(),
                           suggestions=escape("|".join(SUGGESTIONS)))


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 12 else None


@router.get("/", response_class=HTMLResponse)
async def page(request: Request, live: LiveIndex = Depends(live_index)) -> HTMLResponse:
    params = request.query_params
    question = (params.get("q") or "").strip()
    source = params.get("source")
    if not question and not source:
        return HTMLResponse(render_page())
    if not may_read(request.app.state.settings, request.headers.get("authorization")):
        return HTMLResponse(render_page(question, render_error("This service needs a key to answer questions.")),
                            status_code=401)
    engine = live.engine
    parts, status = [], 200
    try:
        if question:
            parts.append(render_answer(question, await on_cpu(request, engine.ask, question)))
        if source:
            bulletin = engine.bulletin(source)
            parts.append(render_source(question, bulletin, engine.bulletin_text(source),
                                       _int(params.get("start")), _int(params.get("end"))))
    except NotFoundError as exc:
        parts.append(render_error(str(exc)))
        status = 404
    except QueryError as exc:
        parts.append(render_error(str(exc)))
        status = 422
    return HTMLResponse(render_page(question, "".join(parts)), status_code=status)
