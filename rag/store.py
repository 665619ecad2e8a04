"""The index on disk: FAISS vectors, records and a manifest, saved as one atomic generation.

Layout: ``INDEX/gen-*/`` folders each hold a complete index; ``INDEX/CURRENT`` names the
one in use and is replaced atomically, so a reader sees the previous generation or the new
one, never a mix, even if a build is killed half-way.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import IndexStateError
from .fileio import fsync_dir, write_atomic, write_json_atomic
from .records import Bulletin, Chunk, Sentence

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"


@dataclass
class StoredIndex:
    manifest: dict
    bulletins: list[Bulletin]
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    chunk_hashes: list[str]
    sentence_hashes: list[str]
    file_hashes: dict[str, str] = field(default_factory=dict)  # source -> hash of its text
    chunk_terms: list[str] | None = None  # each chunk's BM25 terms, space-separated (saves tokenising at start-up)


def build_vector_index(vectors: np.ndarray, hnsw_threshold: int):
    """Exact inner-product search for small corpora, HNSW beyond ``hnsw_threshold`` vectors."""
    import faiss

    dim = vectors.shape[1]
    if len(vectors) >= hnsw_threshold:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def save(index_dir: Path, stored: StoredIndex, vector_index) -> Path:
    """Write a new generation and switch ``CURRENT`` to it; older generations are removed."""
    import faiss

    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        staging = index_dir / f".{name}.partial"
        staging.mkdir()
        write_atomic(staging / "vectors.faiss", faiss.serialize_index(vector_index).tobytes())
        write_atomic(staging / "chunk_vectors.npy", _npy(stored.chunk_vectors))
        write_atomic(staging / "sentence_vectors.npy", _npy(stored.sentence_vectors))
        write_json_atomic(staging / "records.json", {
            "bulletins": [_fields(b) for b in stored.bulletins],
            "chunks": [_fields(c) for c in stored.chunks],
            "sentences": [_fields(s) for s in stored.sentences],
            "chunk_hashes": stored.chunk_hashes,
            "sentence_hashes": stored.sentence_hashes,
            "file_hashes": stored.file_hashes,
        }, compact=True)
        if stored.chunk_terms is not None:
            write_json_atomic(staging / "chunk_terms.json", stored.chunk_terms, compact=True)
        write_json_atomic(staging / "manifest.json", {**stored.manifest, "format": FORMAT_VERSION})
        final = index_dir / name
        os.replace(staging, final)
        fsync_dir(index_dir)
        write_atomic(index_dir / CURRENT, name.encode())
    except OSError as exc:
        raise IndexStateError(f"cannot write the index in {index_dir}: {exc.strerror or exc}") from None
    _remove_other_generations(index_dir, keep=name)
    return final


def current_generation(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / CURRENT
    try:
        name = pointer.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise IndexStateError(f"cannot read {pointer}: {exc.strerror or exc}") from None
    folder = Path(index_dir) / name
    if not name.startswith("gen-") or "/" in name or not folder.is_dir():
        raise IndexStateError(f"{pointer} names a missing generation {name!r}")
    return folder


def load(index_dir: Path) -> tuple[StoredIndex, object] | None:
    """The current generation and its FAISS index; ``None`` if there is none; IndexStateError if broken."""
    import faiss

    folder = current_generation(index_dir)
    if folder is None:
        return None
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        records = json.loads((folder / "records.json").read_text(encoding="utf-8"))
        chunk_vectors = np.load(folder / "chunk_vectors.npy", allow_pickle=False)
        sentence_vectors = np.load(folder / "sentence_vectors.npy", allow_pickle=False)
        vector_index = faiss.deserialize_index(np.fromfile(folder / "vectors.faiss", dtype=np.uint8))
        terms_file = folder / "chunk_terms.json"
        chunk_terms = json.loads(terms_file.read_text(encoding="utf-8")) if terms_file.is_file() else None
        stored = StoredIndex(
            manifest=manifest,
            bulletins=[Bulletin(**b) for b in records["bulletins"]],
            chunks=[Chunk(**{**c, "sentence_ids": tuple(c["sentence_ids"])}) for c in records["chunks"]],
            sentences=[Sentence(**s) for s in records["sentences"]],
            chunk_vectors=chunk_vectors,
            sentence_vectors=sentence_vectors,
            chunk_hashes=records["chunk_hashes"],
            sentence_hashes=records["sentence_hashes"],
            file_hashes=records.get("file_hashes", {}),
            chunk_terms=chunk_terms,
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexStateError(f"the index in {folder} is unreadable ({type(exc).__name__}: {exc})") from None
    _check_consistent(stored, vector_index, folder)
    return stored, vector_index


def _check_consistent(stored: StoredIndex, vector_index, folder: Path) -> None:
    dim = stored.manifest.get("dimension")
    problems = []
    if stored.manifest.get("format") != FORMAT_VERSION:
        problems.append("format version differs")
    if vector_index.ntotal != len(stored.chunks) or len(stored.chunk_vectors) != len(stored.chunks):
        problems.append("vector count does not match the chunk records")
    if stored.chunk_terms is not None and len(stored.chunk_terms) != len(stored.chunks):
        problems.append("BM25 terms do not match the chunk records")
    if len(stored.sentence_vectors) != len(stored.sentences):
        problems.append("sentence vectors do not match the sentence records")
    if stored.chunk_vectors.ndim != 2 or (len(stored.chunks) and stored.chunk_vectors.shape[1] != dim):
        problems.append("vector dimension does not match the manifest")
    if vector_index.d != dim:
        problems.append("FAISS dimension does not match the manifest")
    if problems:
        raise IndexStateError(f"the index in {folder} is inconsistent: {'; '.join(problems)}")


def _fields(record) -> dict:
    """A flat record's fields (``dataclasses.asdict`` deep-copies: seconds on a large corpus)."""
    return dict(vars(record))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _remove_other_generations(index_dir: Path, keep: str) -> None:
    for entry in index_dir.iterdir():
        if entry.name != keep and (entry.name.startswith("gen-") or entry.name.endswith(".partial")):
            shutil.rmtree(entry, ignore_errors=True)
