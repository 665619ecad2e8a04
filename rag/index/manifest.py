"""What an index generation is: its manifest, typed and immutable, read from and written to JSON.

``manifest.json`` says what the index was built from (the ``Recipe`` of settings and the corpus
fingerprint), what it holds (counts, dimension, backend, FAISS type, appended segments) and the
SHA-256 of every file beside it. ``parse_manifest`` never raises: bytes that are not a manifest
become a ``Broken`` value saying why, and the caller rebuilds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from rag.config import Settings
from rag.fileio import json_bytes, write_atomic

FORMAT_VERSION = 2  # 2: every file's checksum in the manifest (an older index is rebuilt from scratch)
PIPELINE_VERSION = 6  # bump when splitting, chunking or embedding inputs change


@dataclass(frozen=True)
class Recipe:
    """The settings an index is built with. A field an old manifest lacks is ``None``: it matches
    no setting, so that index is stale (rebuilt reusing its vectors), not broken."""

    pipeline: int | None
    model: str | None
    chunk_tokens: int | None
    chunk_overlap: int | None
    default_year: int | None

    @classmethod
    def of(cls, settings: Settings) -> "Recipe":
        return cls(PIPELINE_VERSION, settings.model_name, settings.chunk_tokens, settings.chunk_overlap,
                   settings.default_year)

    def splits_like(self, other: "Recipe") -> bool:
        """Whether files split under this recipe split the same way under ``other`` (the model aside)."""
        return (self.pipeline, self.chunk_tokens, self.chunk_overlap, self.default_year) == (
            other.pipeline, other.chunk_tokens, other.chunk_overlap, other.default_year)


@dataclass(frozen=True)
class Manifest:
    recipe: Recipe
    corpus: str | None  # corpus.fingerprint_hashes of every file the index holds; None: unknown (stale)
    files: int
    dimension: int
    backend: str | None  # None: written before backends were recorded (taken as the current one)
    index_type: str  # the FAISS class of the base: IndexFlatIP or IndexHNSWFlat
    bulletins: int
    chunks: int
    sentences: int
    embedded: int  # chunks encoded by the build that wrote it (the rest came from the cache)
    base_chunks: int | None = None  # chunks in the base when segments were appended
    segments: tuple[str, ...] = ()  # appended segment folders under segments/, in order
    checksums: Mapping[str, str] = field(default_factory=dict)  # path in the generation -> SHA-256

    def __post_init__(self):
        object.__setattr__(self, "checksums", MappingProxyType(dict(self.checksums)))

    @property
    def segment_chunks(self) -> int:
        """Chunks held by appended segments rather than the base."""
        return 0 if self.base_chunks is None else self.chunks - self.base_chunks

    def with_(self, **changes) -> "Manifest":
        return replace(self, **changes)


@dataclass(frozen=True)
class Broken:
    """A manifest that cannot be trusted, and why (in words, for the log)."""

    problem: str


def manifest_bytes(manifest: Manifest) -> bytes:
    """The JSON of ``manifest``: the flat object ``parse_manifest`` reads (and every earlier build wrote)."""
    r = manifest.recipe
    data = {"pipeline": r.pipeline, "model": r.model, "chunk_tokens": r.chunk_tokens,
            "chunk_overlap": r.chunk_overlap, "default_year": r.default_year, "corpus": manifest.corpus,
            "files": manifest.files, "dimension": manifest.dimension, "backend": manifest.backend,
            "bulletins": manifest.bulletins, "chunks": manifest.chunks, "sentences": manifest.sentences,
            "embedded": manifest.embedded, "index_type": manifest.index_type}
    if manifest.base_chunks is not None:
        data["base_chunks"] = manifest.base_chunks
    if manifest.segments:
        data["segments"] = list(manifest.segments)
    data = {k: v for k, v in data.items() if v is not None}
    return json_bytes({**data, "checksums": dict(manifest.checksums), "format": FORMAT_VERSION})


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write ``manifest`` to ``path`` atomically."""
    write_atomic(path, manifest_bytes(manifest))


def parse_manifest(data: bytes) -> Manifest | Broken:
    """The manifest in ``data``, or ``Broken`` with the reason; never raises."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return Broken(f"the manifest is not JSON ({type(exc).__name__}: {exc})")
    if not isinstance(raw, dict):
        return Broken("the manifest is not a JSON object")
    if raw.get("format") != FORMAT_VERSION:
        return Broken(f"the index has format {raw.get('format')!r}, not {FORMAT_VERSION}: it is rebuilt")
    checksums = raw.get("checksums")
    if not (isinstance(checksums, dict) and all(isinstance(v, str) for v in checksums.values())):
        return Broken("the checksums are missing or malformed")
    segments = raw.get("segments", [])
    if not isinstance(segments, list):
        return Broken("the segment list is not a list")
    for name in segments:
        if not (isinstance(name, str) and name.isdigit() and name.isascii()):
            return Broken(f"bad segment name {name!r}")
    wrong = [key for key in ("bulletins", "chunks", "sentences", "dimension") if not _count(raw.get(key))]
    wrong += [key for key in ("files", "embedded", "base_chunks") if key in raw and not _count(raw[key])]
    if wrong:
        return Broken(f"the manifest's {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} missing or not a count")
    recipe = Recipe(_typed(raw, "pipeline", int), _typed(raw, "model", str), _typed(raw, "chunk_tokens", int),
                    _typed(raw, "chunk_overlap", int), _typed(raw, "default_year", int))
    return Manifest(recipe=recipe, corpus=_typed(raw, "corpus", str), files=raw.get("files", 0),
                    dimension=raw["dimension"], backend=_typed(raw, "backend", str),
                    index_type=_typed(raw, "index_type", str) or "", bulletins=raw["bulletins"],
                    chunks=raw["chunks"], sentences=raw["sentences"], embedded=raw.get("embedded", 0),
                    base_chunks=raw.get("base_chunks"), segments=tuple(segments), checksums=checksums)


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _typed(raw: dict, key: str, kind: type):
    """``raw[key]`` if it is a ``kind`` (bool is not an int here), else ``None``."""
    value = raw.get(key)
    return value if type(value) is kind else None
