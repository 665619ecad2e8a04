"""Build an index from corpus files: split, chunk, embed (reusing cached vectors), save."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

import numpy as np

from . import store
from .config import Settings
from .corpus import SourceFile, file_hash, fingerprint_hashes
from .extract.cache import prune as prune_extracted
from .embedding import Embedder
from .lexical import terms
from .records import Chunk, Sentence
from .splitting import PIPELINE_VERSION, Progress, SplitMany, renumbered, split_corpus
from .store import StoredIndex

log = logging.getLogger(__name__)
# Sentence vectors only rank a few dozen sentences per question: half precision halves their
# memory and disk (they outnumber chunk vectors ~10 to 1) and moves a cosine by < 0.001.
SENTENCE_DTYPE = np.float16
MAX_SEGMENTS = 32  # appended segments before a full build folds them into the base
MIN_SEGMENT_CHUNKS = 2_000  # appended chunks allowed before that, or a tenth of the index if larger


def manifest_for(settings: Settings, files: list[SourceFile]) -> dict:
    """What the index was built from: when any of it changes, the index is stale."""
    return corpus_manifest(settings, {f.source: file_hash(f) for f in files})


def corpus_manifest(settings: Settings, file_hashes: dict[str, str]) -> dict:
    """``manifest_for`` from each file's ``file_hash`` (source -> hash)."""
    return {**_settings_part(settings), "corpus": fingerprint_hashes(file_hashes), "files": len(file_hashes)}


def _settings_part(settings: Settings) -> dict:
    return {"pipeline": PIPELINE_VERSION, "model": settings.model_name,
            "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap,
            "default_year": settings.default_year}


def stale_reason(manifest: dict, expected: dict) -> str | None:
    """Why an index built with ``manifest`` cannot serve ``expected``, or ``None`` if it can."""
    labels = {"corpus": "the bulletins changed", "model": "the embedding model changed",
              "chunk_tokens": "the chunk size changed", "chunk_overlap": "the chunk overlap changed",
              "default_year": "the default year changed", "pipeline": "the indexing code changed"}
    for key, label in labels.items():
        if manifest.get(key) != expected.get(key):
            return label
    return None


def chunk_embedding_text(title: str, chunk_text: str) -> str:
    """What a chunk is embedded (and BM25-indexed) as: its headline, then its text.

    A line break, not ". ": the model reads it as a space, as sentence-transformers joins a
    BEIR title and text; a full stop after the headline cost 1.3 points of dense nDCG@10 on
    CLIMATE-FEVER (0.356 against 0.368, fp32).
    """
    return f"{title}\n{chunk_text}"


def build(settings: Settings, files: list[SourceFile], embedder: Embedder,
          previous: StoredIndex | None = None, progress: Progress | None = None,
          split_many: SplitMany | None = None) -> tuple[StoredIndex, object]:
    """Build and save a new index generation; vectors of unchanged texts come from ``previous``.
    ``split_many`` splits the files that need it elsewhere (rag/cluster runs it on Ray)."""
    bulletins, sentences, chunks = split_corpus(files, settings, previous, progress, split_many=split_many)
    titles = {b.id: b.title for b in bulletins}
    cache: dict[str, np.ndarray] = {}
    if (previous is not None and previous.manifest.get("model") == settings.model_name
            and previous.manifest.get("backend", embedder.backend) == embedder.backend):
        cache.update(zip(previous.chunk_hashes, previous.chunk_vectors))
        cache.update(zip(previous.sentence_hashes, previous.sentence_vectors))
    chunk_texts, chunk_hashes, sentence_hashes, embedded = _embed(chunks, sentences, titles, settings.model_name,
                                                                  embedder, cache, progress)
    known_terms = dict(zip(previous.chunk_hashes, previous.chunk_terms)) if (
        previous is not None and previous.chunk_terms is not None) else {}
    chunk_terms = [known_terms.get(h) or " ".join(terms(t)) for h, t in zip(chunk_hashes, chunk_texts)]
    dim = embedder.dimension
    file_hashes = {f.source: file_hash(f) for f in files}
    manifest = {**corpus_manifest(settings, file_hashes), "dimension": dim, "backend": embedder.backend,
                "bulletins": len(bulletins), "chunks": len(chunks), "sentences": len(sentences),
                "embedded": embedded}
    stored = StoredIndex(manifest, bulletins, chunks, sentences, _stack([cache[h] for h in chunk_hashes], dim),
                         _stack([cache[h] for h in sentence_hashes], dim, SENTENCE_DTYPE),
                         chunk_hashes, sentence_hashes, file_hashes, chunk_terms)
    vector_index = store.build_vector_index(stored.chunk_vectors, settings.hnsw_threshold,
                                            settings.index_threads)
    manifest["index_type"] = type(vector_index).__name__
    if progress:
        progress("saving", 0, 1)
    store.save(settings.index, stored, vector_index)
    prune_extracted(settings.extracted, {f.extracted_path for f in files if f.extracted_path is not None})
    return stored, vector_index


def can_append(settings: Settings, previous: StoredIndex, vector_index, files: list[SourceFile]) -> bool:
    """Whether ``files`` can be appended to ``previous`` as a segment instead of a full build:
    new sources only, the same settings, the same kind of vector index, and segments still small."""
    manifest = previous.manifest
    segment_chunks = len(previous.chunks) - manifest.get("base_chunks", len(previous.chunks))
    return (not any(f.source in previous.file_hashes for f in files)
            and stale_reason(manifest, {**manifest, **_settings_part(settings)}) is None
            and (len(previous.chunks) + 50 < settings.hnsw_threshold or type(vector_index).__name__ != "IndexFlatIP")
            and len(manifest.get("segments", [])) < MAX_SEGMENTS
            and segment_chunks < max(MIN_SEGMENT_CHUNKS, len(previous.chunks) // 10))


def added_files(previous: StoredIndex, files: list[SourceFile]) -> list[SourceFile] | None:
    """The files that ``previous`` lacks, if every file it holds is still there unchanged; else ``None``."""
    current = {f.source: f for f in files}
    for source, digest in previous.file_hashes.items():
        f = current.get(source)
        if f is None or file_hash(f) != digest:
            return None
    return [f for f in files if f.source not in previous.file_hashes]


def append(settings: Settings, previous: StoredIndex, vector_index, files: list[SourceFile],
           embedder: Embedder) -> tuple[StoredIndex, object]:
    """``previous`` plus the bulletins of ``files`` (new sources), saved as an appended segment.

    Costs what the new files cost (split, embed, write), not what the corpus costs; see
    ``can_append`` for when it applies. The FAISS index is copied, then grows.
    """
    import faiss

    first = (len(previous.bulletins), len(previous.chunks), len(previous.sentences))
    # numbered from 0 here, moved after the previous records below
    bulletins, sentences, chunks = split_corpus(files, settings, workers=1)
    titles = {b.id: b.title for b in bulletins}
    cache: dict[str, np.ndarray] = {}
    chunk_texts, chunk_hashes, sentence_hashes, embedded = _embed(chunks, sentences, titles, settings.model_name,
                                                                  embedder, cache, None)
    dim = embedder.dimension
    new_hashes = {f.source: file_hash(f) for f in files}
    manifest = {**previous.manifest, **corpus_manifest(settings, {**previous.file_hashes, **new_hashes}),
                "bulletins": first[0] + len(bulletins), "chunks": first[1] + len(chunks),
                "sentences": first[2] + len(sentences), "embedded": embedded,
                "base_chunks": previous.manifest.get("base_chunks", len(previous.chunks))}
    new_vectors = _stack([cache[h] for h in chunk_hashes], dim)
    part = StoredIndex(manifest, bulletins, renumbered(chunks, first[1], first[2]), sentences, new_vectors,
                       _stack([cache[h] for h in sentence_hashes], dim, SENTENCE_DTYPE),
                       chunk_hashes, sentence_hashes, new_hashes, [" ".join(terms(t)) for t in chunk_texts])
    stored = store.joined([replace(previous, manifest=manifest), part])
    grown = faiss.clone_index(vector_index)
    if len(new_vectors):
        grown.add(np.ascontiguousarray(new_vectors))
    store.save_appended(settings.index, stored, first)
    return stored, grown


def _embed(chunks: list[Chunk], sentences: list[Sentence], titles: dict[str, str], model_key: str,
           embedder: Embedder, cache: dict[str, np.ndarray], progress: Progress | None):
    """Vectors for ``chunks`` and their ``sentences`` into ``cache``, keyed by content hash; only
    what the cache lacks is encoded. Returns the chunk texts, both hash lists and the count encoded."""
    chunk_texts = [chunk_embedding_text(titles[c.bulletin_id], c.text) for c in chunks]
    chunk_hashes = [_hash(model_key, t) for t in chunk_texts]
    owners = sentence_owners(chunks, titles, sentences)
    sentence_hashes = [_hash(model_key, f"{chunk_hashes[c]}\0{a}\0{b}") for c, a, b in owners]
    owned: list[list[int]] = [[] for _ in chunks]
    for sid, (c, _, _) in enumerate(owners):
        owned[c].append(sid)
    missing = [i for i, h in enumerate(chunk_hashes)
               if h not in cache or any(sentence_hashes[s] not in cache for s in owned[i])]
    log.info("embedding %d of %d chunks (%d cached)", len(missing), len(chunks), len(chunks) - len(missing))
    if missing:
        report = (lambda done, total: progress("embedding", done, total)) if progress else None
        spans = [[owners[s][1:] for s in owned[i]] for i in missing]
        vectors, pooled = embedder.encode_spans([chunk_texts[i] for i in missing], spans, progress=report)
        cache.update(zip((chunk_hashes[i] for i in missing), vectors))
        for i, rows in zip(missing, pooled):
            cache.update(zip((sentence_hashes[s] for s in owned[i]), rows))
        _embed_cut_off_sentences(embedder, [s for i in missing for s in owned[i]], sentences, titles,
                                 sentence_hashes, cache)
    return chunk_texts, chunk_hashes, sentence_hashes, len(missing)


def sentence_owners(chunks: list[Chunk], titles: dict[str, str],
                    sentences: list[Sentence]) -> list[tuple[int, int, int]]:
    """Per sentence: the first chunk that holds it (every sentence is in one; see chunking) and
    its character range in that chunk's embedding text, which its vector is pooled from."""
    owners: list[tuple[int, int, int] | None] = [None] * len(sentences)
    for n, c in enumerate(chunks):
        shift = len(chunk_embedding_text(titles[c.bulletin_id], "")) - c.char_start
        for sid in c.sentence_ids:
            if owners[sid] is None:
                owners[sid] = (n, sentences[sid].char_start + shift, sentences[sid].char_end + shift)
    return owners


def _embed_cut_off_sentences(embedder: Embedder, sentence_ids: list[int], sentences: list[Sentence],
                             titles: dict[str, str], hashes: list[str], cache: dict[str, np.ndarray]) -> None:
    """Sentences past the model's window got no token states: embed them on their own, with their headline."""
    cut = [s for s in sentence_ids if np.isnan(cache[hashes[s]][0])]
    if cut:
        log.info("%d sentences lie past the model's window: embedding them on their own", len(cut))
        vectors = embedder.encode([chunk_embedding_text(titles[sentences[s].bulletin_id], sentences[s].text)
                                   for s in cut])
        cache.update(zip((hashes[s] for s in cut), vectors))


def _stack(vectors: list[np.ndarray], dim: int, dtype=np.float32) -> np.ndarray:
    return np.vstack(vectors).astype(dtype) if vectors else np.zeros((0, dim), dtype=dtype)


def _hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
