"""PDF: the text layer of every page (pypdf), pages joined by a blank line, and where each starts."""

from __future__ import annotations

import io
import logging
import re

from rag.ingest.extract import Extracted, ExtractionError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # everything but tab and newline
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def extract_pdf(data: bytes) -> Extracted:
    """Every page's text in order, with each page's start offset.

    Raises ``ExtractionError`` for a PDF that is encrypted (and opens with no empty password),
    corrupt, or has no text layer at all (scanned pages need OCR first).
    """
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns on every odd object of a broken file
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise ExtractionError("the PDF is encrypted: save it without a password")
        pages = [_clean(page.extract_text() or "") for page in reader.pages]
        title = _metadata_title(reader)
    except ExtractionError:
        raise
    except Exception as exc:  # pypdf raises many kinds (PdfReadError, ValueError, KeyError...) on a broken file
        raise ExtractionError(f"the PDF is corrupt or unreadable ({type(exc).__name__})") from None
    if not pages:
        raise ExtractionError("the PDF has no pages")
    if not any(any(ch.isalnum() for ch in page) for page in pages):
        raise ExtractionError(f"the PDF has no text layer on any of its {len(pages)} pages "
                              "(scanned images?): run OCR on it first")
    starts, pos = [], 0
    for page in pages:
        starts.append(pos)
        pos += len(page) + 2
    return Extracted("\n\n".join(pages), tuple(starts), title)


def _opens_without_password(reader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # an AES file without the optional crypto library, or a broken security handler
        return False


def _metadata_title(reader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a broken info dictionary is no reason to lose the text
        return ""
    return " ".join(str(title).split()) if title else ""


def _clean(page: str) -> str:
    text = _CONTROL.sub("", page.replace("\r\n", "\n").replace("\r", "\n"))
    return _TRAILING_SPACE.sub("\n", text).strip()
