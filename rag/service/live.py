"""A live index: answers from the current engine while bulletins are added or removed.

Writes are serialised; each one persists the bulletin file (fsync, rename), builds the next
engine and swaps it in. Readers keep using the engine they started with until the swap. An
added bulletin is appended to the index (its own split, vectors and segment on disk; the rest
is shared); a removal rebuilds with every unchanged vector reused.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path

from rag.errors import QueryError, UnsupportedFileError
from rag.fileio import format_bulletin, remove_durably, remove_stale_temporaries, write_atomic
from rag.index.plan import describe
from rag.ingest.files import SUFFIXES, read_source
from rag.inputs import check_encodable, has_visible
from rag.records import Bulletin
from rag.service.engine import Engine
from rag.service.lifecycle import add_files, open_engine, read_sources, relabel_extracted, upload_source
from rag.text import slug

log = logging.getLogger(__name__)


class ReadOnlyBulletinError(QueryError):
    """A bulletin that comes from the seeds folder, which the API does not rewrite."""


class LiveIndex:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._write_lock = threading.Lock()
        removed = remove_stale_temporaries(engine.settings.uploads)  # left by a kill during an add
        if removed:
            log.warning("removed %d unfinished temporary files from the uploads folder", len(removed))

    @property
    def engine(self) -> Engine:
        return self._engine

    def add(self, title: str, text: str, date: str | None = None, source_name: str | None = None) -> Bulletin:
        """Persist a new bulletin, index it, and return its record."""
        for value, what in ((title, "title"), (text, "text"), (date, "date"), (source_name, "source")):
            check_encodable(value or "", f"bulletin {what}")
        limits = self._engine.settings
        title, text = _clean_line(title, "title", limits.max_title_chars), _CONTROL.sub("", text or "").strip()
        if not has_visible(text):
            raise QueryError("the bulletin text is empty")
        if len(text) > limits.max_text_chars:
            raise QueryError(f"the bulletin text is {len(text)} characters; the limit is {limits.max_text_chars}")
        body = format_bulletin(title, text, date)
        return self._add(_file_name(title, body, source_name), body.encode("utf-8"))

    def add_file(self, filename: str, data: bytes) -> Bulletin:
        """Persist an uploaded file (``.txt``, ``.md``, ``.pdf``, ``.html``/``.htm`` or ``.docx``),
        index it as one bulletin, and return its record; a file with no text to cite is refused."""
        stem, suffix = Path(filename or "").stem, Path(filename or "").suffix.lower()
        if suffix not in SUFFIXES:
            raise UnsupportedFileError(f"unsupported file type {suffix or '(none)'}: send one of {', '.join(SUFFIXES)}")
        if not data.strip():
            raise QueryError("the uploaded file is empty")
        name = _file_name(stem.replace("-", " ").replace("_", " "), data, None)
        return self._add(name[:-len(".txt")] + suffix, data)

    def _add(self, name: str, data: bytes) -> Bulletin:
        with self._write_lock:
            settings = self._engine.settings
            path = Path(settings.uploads) / name
            write_atomic(path, data)  # durable before we say so
            try:
                added = read_source(path, upload_source(name), single=True, extracted=settings.extracted)
                added = relabel_extracted(added) if added is not None else None
                if added is None:
                    raise QueryError("the bulletin could not be indexed: its text has no readable content")
                if len(added.text) > settings.max_text_chars:
                    raise QueryError(f"the bulletin text is {len(added.text)} characters; the limit is "
                                     f"{settings.max_text_chars}")
                engine, report = add_files(self._engine, [added])
                log.info("index updated in %.2f s (%s)", report.seconds, describe(report.plan))
                self._engine = engine
            except Exception:
                path.unlink(missing_ok=True)
                raise
            for b in reversed(self._engine.index.bulletins):
                if b.source == added.source:
                    log.info("added bulletin %s (%s)", b.id, b.source)
                    return b
            path.unlink(missing_ok=True)
            self._rebuild()
        raise QueryError("the bulletin could not be indexed: its text has no readable content")

    def delete(self, bulletin_id: str) -> Bulletin:
        """Remove a bulletin that was added through the API."""
        with self._write_lock:
            engine = self._engine
            bulletin = engine.bulletin(bulletin_id)
            path = engine.files[bulletin.source].path
            uploads = Path(engine.settings.uploads).resolve()
            if not path.resolve().is_relative_to(uploads):
                raise ReadOnlyBulletinError(
                    f"bulletin {bulletin_id!r} comes from {bulletin.source}, which the API does not "
                    "rewrite: edit that file to remove it")
            remove_durably(path)
            self._rebuild()
            log.info("deleted bulletin %s", bulletin_id)
            return bulletin

    def _rebuild(self) -> None:
        engine = self._engine
        new_engine, report = open_engine(engine.settings, engine.embedder, files=read_sources(engine.settings),
                                         current=engine)
        log.info("index swapped in %.2f s (%s)", report.seconds, describe(report.plan))
        self._engine = new_engine


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")  # C0 and C1 controls but tab, newlines


def _clean_line(value: str, field: str, limit: int) -> str:
    value = " ".join(_CONTROL.sub("", value or "").split())
    if not has_visible(value):
        raise QueryError(f"the bulletin {field} is empty")
    if len(value) > limit:
        raise QueryError(f"the bulletin {field} is {len(value)} characters; the limit is {limit}")
    return value


def _file_name(title: str, body: str | bytes, source_name: str | None) -> str:
    prefix = slug(source_name or "", 30)
    digest = hashlib.sha1(body if isinstance(body, bytes) else body.encode("utf-8")).hexdigest()[:8]
    return f"{prefix + '-' if prefix else ''}{slug(title, 60) or 'bulletin'}-{digest}.txt"
