"""A replica's view of an index that another process writes: the generation ``CURRENT`` names,
swapped in whenever ``CURRENT`` moves.

Many replicas read one index folder (shared storage); one writer appends or builds the next
generation and switches ``CURRENT`` atomically. A follower never builds: it loads the generation
as written (checksums, records, offsets checked as at any load) and serves it, and it forwards
adds and deletes to the writer. After a write the follower that took it loads the new
generation before it answers, so the writer's acknowledgement is also this replica's; the
others see it within one poll and one load (``poll_seconds`` plus the load time).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from rag.config import Settings
from rag.encode.embedding import Embedder
from rag.errors import IndexStateError
from rag.index import store
from rag.index.corpus_index import Index
from rag.index.manifest import Manifest, parse_manifest
from rag.ingest.files import SourceFile, file_hash, read_source
from rag.records import Bulletin
from rag.service.engine import Engine
from rag.service.lifecycle import load_answer_model, read_sources, relabel_extracted, verify

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2  # reading a 30-byte file five times a second costs nothing
LOAD_ATTEMPTS = 5


class Writer(Protocol):
    """The one writer of the index (``rag.cluster.writer``); each call returns the record and
    the name of the generation that holds the change, already current."""

    def add(self, title: str, text: str, date: str | None, source_name: str | None) -> tuple[Bulletin, str]: ...
    def add_file(self, filename: str, data: bytes) -> tuple[Bulletin, str]: ...
    def delete(self, bulletin_id: str) -> tuple[Bulletin, str]: ...


class FollowerIndex:
    """``LiveIndex``'s interface (``engine``, ``add``, ``add_file``, ``delete``) for a replica."""

    def __init__(self, settings: Settings, embedder: Embedder, writer: Writer, poll_seconds: float = POLL_SECONDS):
        self._settings = settings
        self._embedder = embedder
        self._writer = writer
        self._lock = threading.Lock()  # one load at a time
        self._engine, self.generation = open_current(settings, embedder)
        self.swaps = 0  # generations swapped in
        self.appends = 0  # of which read as one new segment
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(poll_seconds,), name="follow-index", daemon=True)
        self._watcher.start()

    @property
    def engine(self) -> Engine:
        return self._engine

    def add(self, title: str, text: str, date: str | None = None, source_name: str | None = None) -> Bulletin:
        return self._written(self._writer.add(title, text, date, source_name))

    def add_file(self, filename: str, data: bytes) -> Bulletin:
        return self._written(self._writer.add_file(filename, data))

    def delete(self, bulletin_id: str) -> Bulletin:
        return self._written(self._writer.delete(bulletin_id))

    def close(self) -> None:
        self._stop.set()

    def refresh(self) -> bool:
        """Load the generation ``CURRENT`` names if it is not the one served; whether it swapped."""
        with self._lock:
            name = _current_name(self._settings.index)
            if name is None or name == self.generation:
                return False
            engine = appended(self._settings, self._engine, name)
            if engine is None:
                engine, name = open_current(self._settings, self._embedder, self._engine)
            else:
                self.appends += 1
            self._engine, self.generation = engine, name
            self.swaps += 1
            log.info("serving index generation %s", name)
            return True

    def _written(self, result: tuple[Bulletin, str]) -> Bulletin:
        record, _ = result
        # The writer switched CURRENT before it answered: to it, or to a later generation (the
        # writer is serial), and either holds this change.
        self.refresh()
        return record

    def _watch(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                self.refresh()
            except (IndexStateError, OSError) as exc:  # caught mid-switch or mid-removal: the next poll retries
                log.warning("could not load the new index generation yet: %s", exc)


def open_current(settings: Settings, embedder: Embedder, previous: Engine | None = None) -> tuple[Engine, str]:
    """An engine over the generation ``CURRENT`` names, read-only, and that generation's name.

    Its files are the ones the generation was built from: a file added since (an upload the
    writer has not indexed yet) is not read, and the files of ``previous`` are reused when
    unchanged. A generation removed while it was read is read again from the new ``CURRENT``.
    """
    for attempt in range(LOAD_ATTEMPTS):
        name = _current_name(settings.index)
        try:
            index = store.load(settings.index)
            if index is None:
                raise IndexStateError(f"there is no index in {settings.index}")
            if _current_name(settings.index) != name:
                continue  # switched while read: read the new one
            files = _files_of(settings, index, previous)
            verify(index, files)
            answer_model = previous.answer_model if previous else load_answer_model(settings)
            return Engine(settings, embedder, files, index, answer_model), name
        except IndexStateError:
            if attempt == LOAD_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise IndexStateError(f"the index in {settings.index} kept changing while it was read")


def appended(settings: Settings, previous: Engine, name: str) -> Engine | None:
    """The engine of generation ``name`` read as ``previous`` plus its one new segment, when
    that is what it is (an add through the API: every file of ``previous`` unchanged in it);
    else ``None``. Reads the segment alone, as the writer wrote it alone: at 20k stories that is
    a bulletin instead of the whole index."""
    folder = Path(settings.index) / name
    old = previous.index
    try:
        manifest = parse_manifest((folder / "manifest.json").read_bytes())
        if not (isinstance(manifest, Manifest) and _one_segment_more(manifest, old.manifest)):
            return None
        part = store.read_segment(folder, manifest, manifest.segments[-1])
        counts = (len(old.bulletins), len(old.chunks), len(old.sentences))
        if (manifest.bulletins, manifest.chunks, manifest.sentences) != (
                counts[0] + len(part.bulletins), counts[1] + len(part.chunks), counts[2] + len(part.sentences)) or (
                part.chunks and part.chunks[0].id != counts[1]) or part.chunk_terms is None:
            return None
    except (OSError, IndexStateError) as exc:
        log.info("reading generation %s whole: %s", name, exc)
        return None
    index = old.followed_by(part, manifest)
    files = _files_of(settings, index, previous)
    verify(index, files, counts[2])
    return Engine(settings, previous.embedder, files, index, previous.answer_model)


def _one_segment_more(manifest: Manifest, old: Manifest) -> bool:
    """Whether ``manifest`` is ``old`` with one more segment: every file of ``old`` unchanged."""
    return (bool(manifest.segments) and manifest.segments[:-1] == old.segments
            and all(manifest.checksums.get(k) == v for k, v in old.checksums.items()))


def _files_of(settings: Settings, index: Index, previous: Engine | None) -> list[SourceFile]:
    known = previous.files if previous is not None else {}
    files: list[SourceFile] = []
    missing = []
    for source, digest in index.file_hashes.items():
        f = known.get(source)
        if f is not None and file_hash(f) == digest:
            files.append(f)
        else:
            missing.append(source)
    if previous is None and missing:  # first load: one listing of the corpus beats a read per file
        every = {f.source: f for f in read_sources(settings)}
        files += [every[s] for s in missing if s in every]
    else:
        for source in missing:
            f = read_source(settings.path_of(source), source, single=source.startswith("uploads/"),
                            extracted=settings.extracted)
            if f is not None:
                files.append(relabel_extracted(f))
    # A file that changed since the generation was written fails the offset check (``verify``,
    # StaleRecordsError): the writer's next generation will hold it.
    return files


def _current_name(index_dir: Path) -> str | None:
    try:
        return (Path(index_dir) / store.CURRENT).read_bytes().decode("ascii").strip() or None
    except (OSError, ValueError):
        return None
