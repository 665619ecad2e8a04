"""Extracted text on disk: one plain UTF-8 file per source, keyed by a hash of the source's bytes.

``INDEX/extracted/<name>-<hash>.txt`` is the text that citations slice (their ``text_source``);
``<name>-<hash>.json`` beside it holds the page starts and the metadata title. A changed source
has a new hash, so it is extracted again; unchanged sources are read back instead of parsed.
Both files are written atomically, the text last: a text file present means a complete pair.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from rag.fileio import write_atomic, write_json_atomic
from rag.ingest.extract import Extracted, extract
from rag.text import slug

log = logging.getLogger(__name__)
EXTRACTOR_VERSION = 1  # bump when an extractor's output changes: every file is extracted again


def extracted_text(path: Path, data: bytes, folder: Path) -> tuple[Extracted, Path]:
    """The text of the file at ``path`` (its bytes are ``data``) and the file that holds it."""
    key = hashlib.sha256(f"{EXTRACTOR_VERSION}\0{path.suffix.lower()}\0".encode() + data).hexdigest()[:20]
    text_path = Path(folder) / f"{slug(path.stem, 40) or 'file'}-{key}.txt"
    meta_path = text_path.with_suffix(".json")
    cached = _read(text_path, meta_path)
    if cached is not None:
        return cached, text_path
    found = extract(path.suffix, data)
    write_json_atomic(meta_path, {"source": path.name, "pages": list(found.pages), "title": found.title})
    write_atomic(text_path, found.text.encode("utf-8"))
    log.info("extracted %s into %s", path, text_path.name)
    return found, text_path


def prune(folder: Path, keep: set[Path]) -> int:
    """Remove extracted files of sources no longer in the corpus; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    names = {p.name for p in keep} | {p.with_suffix(".json").name for p in keep}
    removed = 0
    for entry in folder.iterdir():
        if entry.suffix in (".txt", ".json") and entry.name not in names:
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _read(text_path: Path, meta_path: Path) -> Extracted | None:
    try:
        text = text_path.read_bytes().decode("utf-8")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return Extracted(text, tuple(int(p) for p in meta["pages"]), str(meta.get("title", "")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
