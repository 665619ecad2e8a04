"""A Word document (.docx, python-docx): its paragraphs and tables in order, headings as Markdown
headings (Title is level 1, Heading N level N + 1), so that a digest splits at its top heading level."""

from __future__ import annotations

import io
import re
import zipfile

from rag.ingest.extract import Extracted, ExtractionError

_HEADING = re.compile(r"heading (\d)", re.IGNORECASE)


def extract_docx(data: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [block for item in document.iter_inner_content() if (block := _block(item))]
        title = " ".join((document.core_properties.title or "").split())
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractionError(f"not a readable Word (.docx) file ({type(exc).__name__})") from None
    if not any(any(ch.isalnum() for ch in b) for b in blocks):
        raise ExtractionError("the Word document has no text")
    return Extracted("\n\n".join(blocks) + "\n", (), title)


def _block(item) -> str:
    from docx.table import Table

    if isinstance(item, Table):
        rows = [" | ".join(" ".join(cell.text.split()) for cell in row.cells) for row in item.rows]
        return "\n".join(r for r in rows if r.strip(" |"))
    text = " ".join(item.text.split())
    if not text:
        return ""
    level = _heading_level(item.style.name if item.style is not None else "")
    return f"{'#' * level} {text}" if level else text


def _heading_level(style: str) -> int:
    if style.lower() == "title":
        return 1
    match = _HEADING.fullmatch(style.strip())
    return int(match.group(1)) + 1 if match else 0
