"""A web page: its main text (trafilatura, without menus, footers and comments), headline and the
publication date from the page's own metadata.

The extracted text reads like a bulletin file: the headline, the date on the next line (so it is
the bulletin's date), a blank line, then the paragraphs separated by blank lines.
"""

from __future__ import annotations

from rag.fileio import format_bulletin
from rag.ingest.extract import Extracted, ExtractionError

# Less main text than this is a menu, a cookie wall or an error page, not a bulletin.
MIN_MAIN_TEXT_CHARS = 40


def extract_html(data: bytes) -> Extracted:
    import trafilatura

    # favor_precision: a menu in the text would be cited as if the bulletin said it (on a short page
    # the default took the navigation links too). extensive_search off: the date comes from the
    # page's metadata and markup, never guessed from its text.
    doc = trafilatura.bare_extraction(data, with_metadata=True, include_comments=False, include_tables=True,
                                      favor_precision=True,
                                      date_extraction_params={"extensive_search": False, "original_date": True})
    text = getattr(doc, "text", None) or ""
    paragraphs = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    title = " ".join((getattr(doc, "title", None) or "").split())
    if paragraphs and title and _same(paragraphs[0], title):
        title = paragraphs.pop(0)  # the page's own headline, as it is written
    if sum(len(p) for p in paragraphs) < MIN_MAIN_TEXT_CHARS:
        raise ExtractionError("the page has no main text (only menus, links or boilerplate)")
    date = getattr(doc, "date", None) or ""
    return Extracted(format_bulletin(title, "\n\n".join(paragraphs), date), (), title)


def _same(a: str, b: str) -> bool:
    return a.casefold().strip(" .") == b.casefold().strip(" .") or a.casefold().startswith(b.casefold())
