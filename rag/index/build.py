"""Build an index from corpus files: split, chunk, embed (reusing cached vectors), save; or append new files."""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from rag.config import Settings
from rag.encode.embedding import Embedder
from rag.index import store
from rag.index.corpus_index import Index, StoredIndex, chunk_embedding_text
from rag.index.manifest import Manifest, Recipe
from rag.index.plan import vectors_reusable
from rag.ingest.extract.cache import prune as prune_extracted
from rag.ingest.files import SourceFile, file_hash, fingerprint_hashes
from rag.ingest.splitting import Progress, SplitMany, renumbered, split_corpus
from rag.records import Chunk, Sentence
from rag.search.bm25 import terms

log = logging.getLogger(__name__)
# Sentence vectors only rank a few dozen sentences per question: half precision halves their
# memory and disk (they outnumber chunk vectors ~10 to 1) and moves a cosine by < 0.001.
SENTENCE_DTYPE = np.float16


def build(settings: Settings, files: list[SourceFile], embedder: Embedder,
          previous: Index | None = None, progress: Progress | None = None,
          split_many: SplitMany | None = None) -> Index:
    """Build and save a new index generation; vectors of unchanged texts come from ``previous``.
    ``split_many`` splits the files that need it elsewhere (rag/cluster runs it on Ray)."""
    reused = previous.records if previous is not None else None
    bulletins, sentences, chunks = split_corpus(files, settings, reused, progress, split_many=split_many)
    titles = {b.id: b.title for b in bulletins}
    cache: dict[str, np.ndarray] = {}
    if reused is not None and vectors_reusable(reused.manifest, settings, embedder.backend):
        cache.update(zip(reused.chunk_hashes, reused.chunk_vectors))
        cache.update(zip(reused.sentence_hashes, reused.sentence_vectors))
    chunk_texts, chunk_hashes, sentence_hashes, embedded = _embed(chunks, sentences, titles, settings.model_name,
                                                                  embedder, cache, progress)
    known_terms = dict(zip(reused.chunk_hashes, reused.chunk_terms)) if (
        reused is not None and reused.chunk_terms is not None) else {}
    chunk_terms = [known_terms.get(h) or " ".join(terms(t)) for h, t in zip(chunk_hashes, chunk_texts)]
    dim = embedder.dimension
    file_hashes = {f.source: file_hash(f) for f in files}
    chunk_vectors = _stack([cache[h] for h in chunk_hashes], dim)
    vector_index = store.build_vector_index(chunk_vectors, settings.hnsw_threshold, settings.index_threads)
    manifest = Manifest(recipe=Recipe.of(settings), corpus=fingerprint_hashes(file_hashes), files=len(file_hashes),
                        dimension=dim, backend=embedder.backend, index_type=type(vector_index).__name__,
                        bulletins=len(bulletins), chunks=len(chunks), sentences=len(sentences), embedded=embedded)
    stored = StoredIndex(manifest, bulletins, chunks, sentences, chunk_vectors,
                         _stack([cache[h] for h in sentence_hashes], dim, SENTENCE_DTYPE),
                         chunk_hashes, sentence_hashes, file_hashes, chunk_terms)
    if progress:
        progress("saving", 0, 1)
    index = store.save(settings.index, Index(stored, vector_index))
    prune_extracted(settings.extracted, {f.extracted_path for f in files if f.extracted_path is not None})
    return index


def append(settings: Settings, previous: Index, files: list[SourceFile], embedder: Embedder) -> Index:
    """``previous`` plus the bulletins of ``files`` (new sources), saved as an appended segment.

    Costs what the new files cost (split, embed, write), not what the corpus costs; see
    ``plan.can_append`` for when it applies. The FAISS index is copied, then grows, and so does BM25.
    """
    old = previous.records
    first = (len(old.bulletins), len(old.chunks), len(old.sentences))
    # numbered from 0 here, moved after the previous records below
    bulletins, sentences, chunks = split_corpus(files, settings, workers=1)
    titles = {b.id: b.title for b in bulletins}
    cache: dict[str, np.ndarray] = {}
    chunk_texts, chunk_hashes, sentence_hashes, embedded = _embed(chunks, sentences, titles, settings.model_name,
                                                                  embedder, cache, None)
    dim = embedder.dimension
    new_hashes = {f.source: file_hash(f) for f in files}
    every_hash = {**old.file_hashes, **new_hashes}
    base_chunks = old.manifest.base_chunks if old.manifest.base_chunks is not None else len(old.chunks)
    manifest = old.manifest.with_(recipe=Recipe.of(settings), corpus=fingerprint_hashes(every_hash),
                                  files=len(every_hash), bulletins=first[0] + len(bulletins),
                                  chunks=first[1] + len(chunks), sentences=first[2] + len(sentences),
                                  embedded=embedded, base_chunks=base_chunks)
    new_vectors = _stack([cache[h] for h in chunk_hashes], dim)
    new_terms = [" ".join(terms(t)) for t in chunk_texts]
    part = StoredIndex(manifest, bulletins, renumbered(chunks, first[1], first[2]), sentences, new_vectors,
                       _stack([cache[h] for h in sentence_hashes], dim, SENTENCE_DTYPE),
                       chunk_hashes, sentence_hashes, new_hashes, new_terms)
    index = previous.followed_by(part, manifest)
    return index.with_records(store.save_appended(settings.index, index.records, first))


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
