"""The one writer of a replicated index: a ``LiveIndex`` in a named Ray actor.

Ray runs an actor's calls one at a time, so adds and deletes from every replica are serialised
as ``LiveIndex`` serialises them in one process: each persists the bulletin (fsync, rename),
appends or builds the next generation and switches ``CURRENT`` before it answers. The actor
restarts if its process dies and reopens the index from disk, where every acknowledged write is.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from rag.cluster import NAMESPACE
from rag.config import Settings
from rag.errors import RagError
from rag.index import store
from rag.index.plan import describe
from rag.records import Bulletin
from rag.service.lifecycle import open_engine
from rag.service.live import LiveIndex

log = logging.getLogger(__name__)


class IndexWriter:
    """Adds and deletes bulletins; each call returns the record (or the domain error to raise)
    and the generation now current. Made a Ray actor by ``start_writer``."""

    def __init__(self, settings: Settings):
        engine, report = open_engine(settings)
        log.info("index writer ready (%s)", describe(report.plan))
        self._settings = settings
        self._live = LiveIndex(engine)

    def add(self, title: str, text: str, date: str | None, source_name: str | None):
        return self._run(self._live.add, title, text, date, source_name)

    def add_file(self, filename: str, data: bytes):
        return self._run(self._live.add_file, filename, data)

    def delete(self, bulletin_id: str):
        return self._run(self._live.delete, bulletin_id)

    def generation(self) -> str:
        return store.current_generation(self._settings.index).name

    def _run(self, write, *args) -> tuple[Bulletin | None, RagError | None, str]:
        # A domain error comes back as a value: raised through Ray it would carry Ray's
        # traceback in its message, and the API shows messages to users.
        try:
            record, error = write(*args), None
        except RagError as exc:
            record, error = None, exc
        return record, error, self.generation()


class RemoteWriter:
    """A replica's handle on the writer actor, with ``follow.Writer``'s interface."""

    def __init__(self, handle):
        self._handle = handle

    def add(self, title: str, text: str, date: str | None, source_name: str | None) -> tuple[Bulletin, str]:
        return self._call(self._handle.add.remote(title, text, date, source_name))

    def add_file(self, filename: str, data: bytes) -> tuple[Bulletin, str]:
        return self._call(self._handle.add_file.remote(filename, data))

    def delete(self, bulletin_id: str) -> tuple[Bulletin, str]:
        return self._call(self._handle.delete.remote(bulletin_id))

    @staticmethod
    def _call(pending) -> tuple[Bulletin, str]:
        import ray

        return unpacked(ray.get(pending))


def unpacked(result: tuple[Bulletin | None, RagError | None, str]) -> tuple[Bulletin, str]:
    """An ``IndexWriter`` answer as ``follow.Writer`` returns it: the record and the generation,
    or the domain error raised here."""
    record, error, generation = result
    if error is not None:
        raise error
    return record, generation


def writer_name(settings: Settings) -> str:
    """One writer per index folder, whichever process starts it."""
    return "index-writer-" + hashlib.sha1(str(Path(settings.index).resolve()).encode()).hexdigest()[:12]


def start_writer(settings: Settings):
    """The named writer actor for ``settings.index`` (started, or the one already running);
    waits until it has opened the index."""
    import ray

    actor = ray.remote(IndexWriter).options(
        name=writer_name(settings), namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
        max_restarts=-1, max_task_retries=0, num_cpus=0)
    handle = actor.remote(settings)
    ray.get(handle.generation.remote())
    return handle


def find_writer(settings: Settings) -> RemoteWriter:
    import ray

    return RemoteWriter(ray.get_actor(writer_name(settings), namespace=NAMESPACE))
