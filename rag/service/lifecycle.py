"""The index's life: open it for a corpus, build it, append new files to it, verify it.

``open_engine`` reads the corpus, loads the index (from disk, or the engine already in memory),
asks ``plan`` what to do, does it, and returns an ``Engine`` over the result with a report of
what was done. A previous index is reused (vectors, splits) only if it passed every check.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rag.answer.model import MODEL_FILE, AnswerModel
from rag.config import Settings, available_cores
from rag.encode.embedding import Embedder
from rag.errors import CorpusError, IndexStateError, StaleRecordsError
from rag.index import build as indexing
from rag.index import store
from rag.index.corpus_index import Index
from rag.index.manifest import Broken
from rag.index.plan import Append, Build, Load, Plan, Reason, describe, plan
from rag.ingest.files import SourceFile, read_corpus
from rag.ingest.splitting import Progress, SplitMany
from rag.service.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenReport:
    plan: Plan  # what was done: loaded, appended to, or built (and why)
    seconds: float

    @property
    def rebuilt(self) -> bool:
        """Whether a new generation was written (built or appended to)."""
        return not isinstance(self.plan, Load)


def load_embedder(settings: Settings) -> Embedder:
    if settings.multilingual:
        from rag.encode.e5_backend import E5Embedder

        return E5Embedder(query_threads=settings.query_threads, index_threads=settings.index_threads)
    return Embedder(settings.model_path, backend=settings.backend, batch_size=settings.batch_size,
                    query_threads=settings.query_threads, index_threads=settings.index_threads,
                    name=settings.model_name, cache_dir=Path(settings.index) / "models",
                    query_precision=settings.query_precision)


def load_answer_model(settings: Settings) -> AnswerModel | None:
    """The trained answer model when the settings ask for it (loaded once per engine family)."""
    if settings.answerer != "model":
        return None
    return AnswerModel(settings.answer_model or MODEL_FILE, threads=settings.query_threads,
                       span_threshold=settings.span_threshold, windows=settings.answer_windows,
                       workers=settings.answer_workers or available_cores(),
                       cache_dir=Path(settings.index) / "models")


def read_sources(settings: Settings) -> list[SourceFile]:
    """The corpus: every bulletin file under the seeds folder and the uploads folder."""
    files = _labelled(read_corpus(settings.seeds, settings.seeds, max_bytes=settings.max_file_bytes,
                                  extracted=settings.extracted), "seeds")
    if settings.uploads.is_dir():
        files += _labelled(read_corpus(settings.uploads, settings.uploads, single=True,
                                       max_bytes=settings.max_file_bytes, extracted=settings.extracted), "uploads")
    if not files:
        raise CorpusError(f"no bulletins found: {settings.seeds} has no readable .txt, .md, .pdf, .html or "
                          ".docx file")
    return files


def upload_source(name: str) -> str:
    """How users see the uploaded file ``name``: relative to the uploads folder, like every source."""
    return f"uploads/{name}"


def _labelled(files: list[SourceFile], label: str) -> list[SourceFile]:
    """Sources shown relative to their folder (read as ``./file``), never as server paths."""
    return [relabel_extracted(replace(f, source=f"{label}/{f.source.removeprefix('./')}")) for f in files]


def relabel_extracted(f: SourceFile) -> SourceFile:
    """A PDF, web page or Word file's extracted text shown as ``index/extracted/name-hash.txt``
    (under the index folder, wherever it is), never as a server path."""
    return replace(f, extracted_source=f"index/extracted/{f.extracted_path.name}") if f.extracted_path else f


def open_engine(settings: Settings, embedder: Embedder | None = None, *, rebuild: bool = False,
                reuse: bool = False, progress: Progress | None = None, files: list[SourceFile] | None = None,
                current: Engine | None = None, split_many: SplitMany | None = None) -> tuple[Engine, OpenReport]:
    """An engine over the index for the corpus, loaded, or appended to or rebuilt when it is
    missing, stale, broken or asked to be (see ``plan``).

    A requested ``rebuild`` re-embeds everything unless ``reuse``. ``current``, an engine
    already in memory, stands in for the index on disk (live updates); ``files`` for the corpus.
    ``split_many`` and a bulk ``embedder`` run a build's splitting and embedding elsewhere
    (``rag index --ray``); the plan, the checks and the generation written are the same.
    """
    started = time.perf_counter()
    files = read_sources(settings) if files is None else files
    embedder = embedder or load_embedder(settings)
    if current is not None:
        state, verified = current.index, len(current.index.sentences)
    else:
        state, verified = _load(settings.index), 0
    chosen = plan(settings, files, state, dimension=embedder.dimension, backend=embedder.backend,
                  rebuild=rebuild, reuse=reuse)
    if isinstance(chosen, Build) and chosen.reason is Reason.BROKEN:
        log.warning("the index in %s is broken, rebuilding it: %s", settings.index, chosen.detail)
    index, chosen = _carry_out(chosen, settings, files, embedder, progress, verified, split_many)
    answer_model = current.answer_model if current else load_answer_model(settings)
    engine = Engine(settings, embedder, files, index, answer_model)
    return engine, OpenReport(chosen, time.perf_counter() - started)


def add_files(engine: Engine, files: list[SourceFile]) -> tuple[Engine, OpenReport]:
    """A new engine that also holds ``files`` (new or rewritten sources): appended to the index on
    disk when that is possible, else rebuilt with every unchanged vector reused; ``engine`` is unchanged."""
    every = {**engine.files, **{f.source: f for f in files}}
    return open_engine(engine.settings, engine.embedder, files=list(every.values()), current=engine)


def verify(index: Index, files: list[SourceFile], start: int = 0) -> None:
    """Every stored sentence from ``start`` on must still slice out of its file: never serve a broken citation."""
    by_source = {f.source: f for f in files}
    source_of = {b.id: b.source for b in index.bulletins}
    for s in index.sentences[start:]:
        f = by_source.get(source_of[s.bulletin_id])
        if f is None or f.text[s.char_start:s.char_end] != s.text:
            raise StaleRecordsError(f"index records no longer match {source_of[s.bulletin_id]}")


def _load(index_dir: Path) -> Index | Broken | None:
    try:
        return store.load(index_dir)
    except IndexStateError as exc:
        return Broken(str(exc))


def _carry_out(chosen: Plan, settings: Settings, files: list[SourceFile], embedder: Embedder,
               progress: Progress | None, verified: int, split_many: SplitMany | None = None) -> tuple[Index, Plan]:
    """The index ``chosen`` asks for, and what was in the end done: an index that fails its
    check is rebuilt, from scratch when what it would reuse is what failed."""
    if isinstance(chosen, Load):
        try:
            verify(chosen.index, files, verified)
            return chosen.index, chosen
        except StaleRecordsError as exc:  # records that no longer slice out of the files
            log.warning("the index in %s is broken, rebuilding it: %s", settings.index, exc)
            chosen = Build(Reason.BROKEN, detail=str(exc))
    try:
        return _made(chosen, settings, files, embedder, progress, verified, split_many), chosen
    except StaleRecordsError as exc:
        previous = chosen.previous
        if previous is None:
            raise
        log.warning("the previous index of %s failed a check (%s): building from scratch", settings.index, exc)
        reason = chosen.reason if isinstance(chosen, Build) else Reason.BULLETINS_CHANGED
        detail = "; ".join(part for part in (chosen.detail if isinstance(chosen, Build) else "", str(exc)) if part)
        fresh = Build(reason, None, detail)
        return _made(fresh, settings, files, embedder, progress, 0, split_many), fresh


def _made(chosen: Append | Build, settings: Settings, files: list[SourceFile], embedder: Embedder,
          progress: Progress | None, verified: int, split_many: SplitMany | None = None) -> Index:
    if isinstance(chosen, Append):
        log.info("appending %d new files to the index in %s", len(chosen.files), settings.index)
        index = indexing.append(settings, chosen.previous, list(chosen.files), embedder)
        verify(index, files, verified)
        return index
    log.info("building the index in %s: %s", settings.index, describe(chosen))
    index = indexing.build(settings, files, embedder, chosen.previous, progress, split_many)
    verify(index, files)
    return index
