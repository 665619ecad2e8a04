"""Build an index from corpus files: split, chunk, embed (reusing cached vectors), save."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from . import store
from .chunking import chunk_sentences, count_tokens
from .config import Settings
from .corpus import SourceFile, body_range, fingerprint, split_bulletins
from .embedding import Embedder
from .records import Bulletin, Chunk, Sentence
from .store import StoredIndex
from .text import split_sentences

log = logging.getLogger(__name__)
PIPELINE_VERSION = 2  # bump when splitting, chunking or embedding inputs change
Progress = Callable[[str, int, int], None]


def manifest_for(settings: Settings, files: list[SourceFile]) -> dict:
    """What the index was built from: when any of it changes, the index is stale."""
    return {
        "pipeline": PIPELINE_VERSION,
        "model": settings.model_name,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "corpus": fingerprint(files),
        "files": len(files),
    }


def stale_reason(manifest: dict, expected: dict) -> str | None:
    """Why an index built with ``manifest`` cannot serve ``expected``, or ``None`` if it can."""
    labels = {"corpus": "the bulletins changed", "model": "the embedding model changed",
              "chunk_tokens": "the chunk size changed", "chunk_overlap": "the chunk overlap changed",
              "pipeline": "the indexing code changed"}
    for key, label in labels.items():
        if manifest.get(key) != expected.get(key):
            return label
    return None


def split_corpus(files: list[SourceFile], settings: Settings) -> tuple[list[Bulletin], list[Sentence], list[Chunk]]:
    """Bulletins, their sentences and their chunks, all with offsets into the original files."""
    bulletins: list[Bulletin] = []
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for f in files:
        for bulletin in split_bulletins(f.text, f.source, _title_from_path(f.path), f.single):
            bulletins.append(bulletin)
            start, end = body_range(f.text, bulletin)
            first = len(sentences)
            for s, e in split_sentences(f.text, start, end):
                sentences.append(Sentence(bulletin.id, s, e, f.text[s:e]))
            ids = list(range(first, len(sentences)))
            if not ids:  # a headline with no body: index the headline itself
                s, e = bulletin.char_start, bulletin.char_end
                sentences.append(Sentence(bulletin.id, s, e, f.text[s:e]))
                ids = [first]
            counts = count_tokens([sentences[i].text for i in ids])
            for a, b in chunk_sentences(counts, settings.chunk_tokens, settings.chunk_overlap):
                s, e = sentences[ids[a]].char_start, sentences[ids[b - 1]].char_end
                chunks.append(Chunk(len(chunks), bulletin.id, s, e, f.text[s:e], tuple(ids[a:b])))
    return bulletins, sentences, chunks


def chunk_embedding_text(title: str, chunk_text: str) -> str:
    return f"{title}. {chunk_text}"


def build(settings: Settings, files: list[SourceFile], embedder: Embedder,
          previous: StoredIndex | None = None, progress: Progress | None = None) -> tuple[StoredIndex, object]:
    """Build and save a new index generation; vectors of unchanged texts come from ``previous``."""
    bulletins, sentences, chunks = split_corpus(files, settings)
    titles = {b.id: b.title for b in bulletins}
    chunk_texts = [chunk_embedding_text(titles[c.bulletin_id], c.text) for c in chunks]
    # A sentence is embedded with its headline: news sentences lean on it ("the committee").
    sentence_texts = [chunk_embedding_text(titles[s.bulletin_id], s.text) for s in sentences]
    model_key = settings.model_name
    chunk_hashes = [_hash(model_key, t) for t in chunk_texts]
    sentence_hashes = [_hash(model_key, t) for t in sentence_texts]
    cache: dict[str, np.ndarray] = {}
    if previous is not None and previous.manifest.get("model") == model_key:
        cache.update(zip(previous.chunk_hashes, previous.chunk_vectors))
        cache.update(zip(previous.sentence_hashes, previous.sentence_vectors))
    all_texts = chunk_texts + sentence_texts
    all_hashes = chunk_hashes + sentence_hashes
    missing = sorted({h: i for i, h in enumerate(all_hashes) if h not in cache}.values())
    log.info("embedding %d of %d texts (%d cached)", len(missing), len(all_texts), len(all_texts) - len(missing))
    if missing:
        report = (lambda done, total: progress("embedding", done, total)) if progress else None
        vectors = embedder.encode([all_texts[i] for i in missing], progress=report)
        cache.update(zip((all_hashes[i] for i in missing), vectors))
    dim = embedder.dimension
    chunk_vectors = _stack([cache[h] for h in chunk_hashes], dim)
    sentence_vectors = _stack([cache[h] for h in sentence_hashes], dim)
    manifest = {**manifest_for(settings, files), "dimension": dim, "backend": embedder.backend,
                "bulletins": len(bulletins), "chunks": len(chunks), "sentences": len(sentences),
                "embedded": len(missing)}
    stored = StoredIndex(manifest, bulletins, chunks, sentences, chunk_vectors, sentence_vectors,
                         chunk_hashes, sentence_hashes)
    vector_index = store.build_vector_index(chunk_vectors, settings.hnsw_threshold)
    manifest["index_type"] = type(vector_index).__name__
    if progress:
        progress("saving", 0, 1)
    store.save(settings.index, stored, vector_index)
    return stored, vector_index


def _stack(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    return np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), dtype=np.float32)


def _hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _title_from_path(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
