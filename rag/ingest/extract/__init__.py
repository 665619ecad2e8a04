"""Text out of published formats: PDF pages, a web page's main text, a Word document's paragraphs.

Each format has its own module with one function, bytes in and an ``Extracted`` record out, or an
``ExtractionError`` whose message says what is wrong with the file (never where it lives). The
extracted text is what gets indexed and cited, so ``cache.py`` keeps it on disk next to the index,
one plain UTF-8 file per source.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.errors import CorpusError

SUFFIXES = (".pdf", ".html", ".htm", ".docx")
# One bulletin per file: a PDF or a web page is one publication. A Word document's headings
# become Markdown headings, so a digest in Word splits at its top heading level.
SINGLE = (".pdf", ".html", ".htm")


class ExtractionError(CorpusError):
    """A file in a supported format that holds no text we can cite (encrypted, scanned, corrupt)."""


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: tuple[int, ...] = ()  # where each page starts in ``text`` (PDF), else empty
    title: str = ""  # the file's own metadata title: the headline when the text has none


def extract(suffix: str, data: bytes) -> Extracted:
    """The text of a file in format ``suffix`` (one of ``SUFFIXES``)."""
    suffix = suffix.lower()
    if suffix == ".pdf":
        from rag.ingest.extract.pdf import extract_pdf

        return extract_pdf(data)
    if suffix in (".html", ".htm"):
        from rag.ingest.extract.html import extract_html

        return extract_html(data)
    if suffix == ".docx":
        from rag.ingest.extract.word import extract_docx

        return extract_docx(data)
    raise ExtractionError(f"unsupported file type {suffix or '(none)'}: use .txt, .md, {', '.join(SUFFIXES)}")


def page_of(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page that holds character ``offset``, or ``None`` for a text without pages."""
    if not pages:
        return None
    from bisect import bisect_right

    return max(1, bisect_right(pages, offset))
