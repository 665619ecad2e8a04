"""End to end over the real model: the seed digest as .txt beside three of its bulletins as a
two-page PDF, a web page and a Word file. Each answers questions about itself, and every
citation's text_source, read from disk and sliced, gives its quote; a PDF citation names its page."""

from __future__ import annotations

import shutil

import pytest

from rag.config import Settings
from rag.ingest.bulletins import body_range, split_bulletins
from rag.search.hybrid import Filters
from rag.service.engine import Engine
from rag.service.lifecycle import open_engine

from helpers import SEED_FILE
from helpers_documents import docx_bytes, html_page, pdf_bytes

pytestmark = pytest.mark.slow
SEED_TEXT = SEED_FILE.read_bytes().decode("utf-8")


def _seed_bulletin(prefix: str) -> tuple[str, list[str]]:
    """Headline and paragraphs of the seed bulletin whose headline starts with ``prefix``."""
    for b in split_bulletins(SEED_TEXT, "seed"):
        if b.title.startswith(prefix):
            start, end = body_range(SEED_TEXT, b)
            paragraphs = [" ".join(p.replace("\xa0", " ").split()) for p in SEED_TEXT[start:end].split("\n\n")]
            return b.title, [p for p in paragraphs if p]
    raise LookupError(prefix)


@pytest.fixture(scope="module")
def formats(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("formats")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    title, paragraphs = _seed_bulletin("IPCC")
    cut = next(i for i, p in enumerate(paragraphs) if p.startswith("Increased global temperature"))
    pages = [[title, *paragraphs[:cut]], paragraphs[cut:]]
    (seeds / "ipcc-synthesis-report.pdf").write_bytes(pdf_bytes(pages, title=title))
    title, paragraphs = _seed_bulletin("The National carbon neutrality")
    (seeds / "expert-committee.html").write_text(html_page(title, paragraphs, published="2023-03-01"),
                                                 encoding="utf-8")
    title, paragraphs = _seed_bulletin("Ministry of Industry")
    (seeds / "miit-carbon-peak.docx").write_bytes(docx_bytes([("Title", title)] + [("", p) for p in paragraphs]))
    settings = Settings(seeds=seeds, index=root / "index")
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt
    return engine, pages


def _bulletin(engine: Engine, suffix: str):
    (b,) = [b for b in engine.index.bulletins if b.source.endswith(suffix)]
    return b


def _check_citations(answer, settings) -> None:
    assert answer.citations
    for c in answer.citations:
        text = settings.path_of(c.text_source).read_bytes().decode("utf-8")
        assert text[c.char_start:c.char_end] == c.quote
        if c.source.endswith((".txt", ".md")):
            assert c.text_source == c.source and c.page is None
        else:
            assert c.text_source != c.source and c.text_source.startswith("index/extracted/")


def test_every_format_is_indexed_with_its_headline_and_date(formats):
    engine, _ = formats
    assert len(engine.index.bulletins) == 5 + 3
    assert _bulletin(engine, ".pdf").title == 'IPCC Releases Sixth Assessment Report "Synthesis Report"'
    html = _bulletin(engine, ".html")
    assert html.title == "The National carbon neutrality Science and Technology Expert Committee was established"
    assert html.date == "2023-03-01"  # from the page's metadata: the digest itself says only "March 1"
    assert _bulletin(engine, ".docx").title.startswith("Ministry of Industry and Information Technology")


@pytest.mark.parametrize("suffix, question, expected, page", [
    (".pdf", "Where did the IPCC release its Synthesis Report?", "Interlaken", 1),
    (".pdf", "How many authors participated in the IPCC report?", "93 authors", 2),
    (".html", "Who leads the National Carbon Neutrality Science and Technology Expert Committee?", "Liu Zhongmin",
     None),
    (".docx", "Who is the Minister of Industry and Information Technology quoted in the bulletin?", "Jin Zhuanglong",
     None),
])
def test_each_format_answers_with_citations_that_slice_back(formats, suffix, question, expected, page):
    engine, pages = formats
    bulletin = _bulletin(engine, suffix)
    answer = engine.ask(question, filters=Filters(bulletin_ids=frozenset({bulletin.id})))
    assert not answer.abstained and expected in answer.answer
    _check_citations(answer, engine.settings)
    best = answer.citations[0]
    assert best.source == bulletin.source and expected in " ".join(c.quote for c in answer.citations)
    if suffix == ".pdf":
        for c in answer.citations:  # the page the PDF shows the quote on
            on = [n for n, paragraphs in enumerate(pages, start=1)
                  if " ".join(c.quote.split()) in " ".join(" ".join(paragraphs).split())]
            assert c.page in on and (c.quote.find(expected) < 0 or c.page == page)
    else:
        assert all(c.page is None for c in answer.citations)
    for p in answer.passages:
        assert p.text_source == engine.files[p.source].text_source


def test_unfiltered_answers_keep_the_invariant_whichever_copy_they_cite(formats):
    engine, _ = formats
    for question in ("Where did the IPCC release its Synthesis Report?",
                     "How many authors participated in the IPCC report?",
                     "Who leads the National Carbon Neutrality Science and Technology Expert Committee?"):
        _check_citations(engine.ask(question), engine.settings)


def test_reopening_reads_the_extracted_text_back(formats, embedder, monkeypatch):
    engine, _ = formats
    monkeypatch.setattr("rag.ingest.extract.cache.extract", lambda *a: pytest.fail("extracted again"))
    again, report = open_engine(engine.settings, embedder)
    assert not report.rebuilt and len(again.index.bulletins) == 8
