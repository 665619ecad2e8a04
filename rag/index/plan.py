"""What to do with the index for a corpus: load it, append the new files to it, or build it, and why.

``plan`` is the one place that compares an index with the settings and files it must serve
(staleness); the CLI, the lifecycle and the live writer act on the value it returns. A reason
is an ``enum``; ``describe`` turns a plan into words for the CLI and the log, and nothing
branches on those words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rag.config import Settings
from rag.index.corpus_index import Index
from rag.index.manifest import Broken, Manifest, Recipe
from rag.ingest.files import SourceFile, file_hash, fingerprint_hashes

MAX_SEGMENTS = 32  # appended segments before a full build folds them into the base
MIN_SEGMENT_CHUNKS = 2_000  # appended chunks allowed before that, or a tenth of the index if larger
APPEND_HEADROOM = 50  # chunks an exact (flat) index may still take before it should become HNSW


class Reason(enum.Enum):
    """Why an index is built (anew, or from what the previous one holds)."""

    NO_INDEX = "no_index"
    BROKEN = "broken"
    REBUILD_REQUESTED = "rebuild_requested"
    BULLETINS_CHANGED = "bulletins_changed"
    MODEL_CHANGED = "model_changed"
    CHUNK_SIZE_CHANGED = "chunk_size_changed"
    CHUNK_OVERLAP_CHANGED = "chunk_overlap_changed"
    DEFAULT_YEAR_CHANGED = "default_year_changed"
    PIPELINE_CHANGED = "pipeline_changed"
    DIMENSION_CHANGED = "dimension_changed"
    BACKEND_CHANGED = "backend_changed"


@dataclass(frozen=True)
class Load:
    """The index serves the corpus as it is."""

    index: Index


@dataclass(frozen=True)
class Append:
    """The corpus is the index's plus new ``files``: add them as a segment."""

    previous: Index
    files: tuple[SourceFile, ...]


@dataclass(frozen=True)
class Build:
    """Build a new index; vectors and splits of ``previous`` (if any) may be reused."""

    reason: Reason
    previous: Index | None = None
    detail: str = ""  # what was found broken, or which check the previous index failed


Plan = Load | Append | Build


def plan(settings: Settings, files: list[SourceFile], current: Index | Broken | None, *, dimension: int,
         backend: str, rebuild: bool = False, reuse: bool = False) -> Plan:
    """What to do with ``current`` (the index on disk or in memory, why it could not be read, or
    ``None`` when there is none) so that it serves ``files`` with ``settings`` and an embedder of
    ``dimension`` and ``backend``. A requested ``rebuild`` reuses ``current`` only with ``reuse``."""
    if isinstance(current, Broken):
        return Build(Reason.BROKEN, detail=current.problem)
    if rebuild:
        return Build(Reason.REBUILD_REQUESTED, current if reuse else None)
    if current is None:
        return Build(Reason.NO_INDEX)
    hashes = {f.source: file_hash(f) for f in files}
    reasons = stale_reasons(current.manifest, Recipe.of(settings), fingerprint_hashes(hashes), dimension, backend)
    if not reasons:
        return Load(current)
    if reasons == [Reason.BULLETINS_CHANGED]:
        added = added_files(current, files, hashes)
        if added and can_append(settings, current):
            return Append(current, tuple(added))
    return Build(reasons[0], current)


def stale_reasons(built: Manifest, recipe: Recipe, corpus: str, dimension: int, backend: str) -> list[Reason]:
    """Every way an index built as ``built`` differs from what it must serve, the weightiest first."""
    r = built.recipe
    checks = ((built.corpus == corpus, Reason.BULLETINS_CHANGED),
              (r.model == recipe.model, Reason.MODEL_CHANGED),
              (r.chunk_tokens == recipe.chunk_tokens, Reason.CHUNK_SIZE_CHANGED),
              (r.chunk_overlap == recipe.chunk_overlap, Reason.CHUNK_OVERLAP_CHANGED),
              (r.default_year == recipe.default_year, Reason.DEFAULT_YEAR_CHANGED),
              (r.pipeline == recipe.pipeline, Reason.PIPELINE_CHANGED),
              (built.dimension == dimension, Reason.DIMENSION_CHANGED),
              (built.backend in (None, backend), Reason.BACKEND_CHANGED))  # None: written before backends
    return [reason for same, reason in checks if not same]


def vectors_reusable(built: Manifest, settings: Settings, backend: str) -> bool:
    """Whether vectors of an index built as ``built`` stand for the same texts now (same model and backend)."""
    return built.recipe.model == settings.model_name and built.backend in (None, backend)


def splits_reusable(built: Manifest, settings: Settings) -> bool:
    """Whether files split for an index built as ``built`` split the same way now."""
    return built.recipe.splits_like(Recipe.of(settings))


def added_files(previous: Index, files: list[SourceFile], hashes: dict[str, str]) -> list[SourceFile] | None:
    """The files that ``previous`` lacks, if every file it holds is still there unchanged; else ``None``.
    ``hashes``: each file's ``file_hash`` by source."""
    for source, digest in previous.file_hashes.items():
        if hashes.get(source) != digest:
            return None
    return [f for f in files if f.source not in previous.file_hashes]


def can_append(settings: Settings, previous: Index) -> bool:
    """Whether new files can go into a segment of ``previous`` instead of a full build: an exact
    index stays below the HNSW threshold, and the segments are still few and small."""
    chunks = len(previous.chunks)
    return ((chunks + APPEND_HEADROOM < settings.hnsw_threshold or type(previous.vectors).__name__ != "IndexFlatIP")
            and len(previous.manifest.segments) < MAX_SEGMENTS
            and previous.manifest.segment_chunks < max(MIN_SEGMENT_CHUNKS, chunks // 10))


_TEXT = {
    Reason.NO_INDEX: "there is no index yet",
    Reason.BROKEN: "the index is broken",
    Reason.REBUILD_REQUESTED: "rebuild requested",
    Reason.BULLETINS_CHANGED: "the bulletins changed",
    Reason.MODEL_CHANGED: "the embedding model changed",
    Reason.CHUNK_SIZE_CHANGED: "the chunk size changed",
    Reason.CHUNK_OVERLAP_CHANGED: "the chunk overlap changed",
    Reason.DEFAULT_YEAR_CHANGED: "the default year changed",
    Reason.PIPELINE_CHANGED: "the indexing code changed",
    Reason.DIMENSION_CHANGED: "the embedding dimension changed",
    Reason.BACKEND_CHANGED: "the embedding backend changed",
}


def describe(p: Plan) -> str:
    """The plan in words, for a person (the CLI's stderr, the log); never compared by code."""
    if isinstance(p, Load):
        return "the index is up to date"
    if isinstance(p, Append):
        n = len(p.files)
        return f"{_TEXT[Reason.BULLETINS_CHANGED]}: {n} new file{'s' * (n != 1)} appended"
    if p.reason is Reason.BROKEN:
        return f"{_TEXT[p.reason]} ({p.detail})" if p.detail else _TEXT[p.reason]
    return f"{_TEXT[p.reason]}; {p.detail}" if p.detail else _TEXT[p.reason]
