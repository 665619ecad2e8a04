"""Hybrid retrieval: dense search in FAISS, BM25, fused by their standardised scores; optional filters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.dates import in_range
from rag.search.bm25 import LexicalIndex
from rag.search.vector_store import VectorStore

# Hybrid search weighs meaning and words equally by default (``RAG_HYBRID_WEIGHT``), each
# ranking's scores standardised over the documents either of its best FUSION_DEPTH found. Against
# reciprocal rank fusion on SQuAD-13, held-out SQuAD articles, CLIMATE-FEVER and the own questions
# it is better on all four at equal weights (README, "Hybrid fusion"); 200 deep over 100:
# CLIMATE-FEVER nDCG@10 0.434 -> 0.439.
DENSE_WEIGHT = 0.5
FUSION_DEPTH = 200


@dataclass(frozen=True)
class Filters:
    bulletin_ids: frozenset[str] | None = None
    date_from: str | None = None  # ISO dates, inclusive; a date without a year passes if some year fits
    date_to: str | None = None

    @property
    def empty(self) -> bool:
        return not self.bulletin_ids and not self.date_from and not self.date_to


def top_indices(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` highest scores (among ``allowed``), best first."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    part = part[np.argsort(-scores[part], kind="stable")]
    return part[np.isfinite(scores[part])]


def standardised(scores: np.ndarray) -> np.ndarray:
    """Scores as z-scores: cosines and BM25 sums on one scale."""
    spread = scores.std()
    return (scores - scores.mean()) / (spread if spread > 0 else 1.0)


def fuse_scores(rankings: list[tuple[np.ndarray, np.ndarray, float]], weights: list[float]) -> dict[int, float]:
    """Weighted sum of each ranking's standardised scores over every document either ranking found.

    Each ranking is ``(ids, scores, floor)``: ``floor`` is what a document it did not reach scores
    at most (its lowest score when the list was cut short, 0 for BM25 when the list holds every
    match). Unlike reciprocal rank fusion this keeps how far apart the scores are, not only their
    order: a passage far ahead by words and close by meaning beats one narrowly ahead by both.
    """
    docs = sorted(set().union(*(ids.tolist() for ids, _, _ in rankings)))
    fused = np.zeros(len(docs))
    for (ids, scores, floor), weight in zip(rankings, weights):
        found = dict(zip(ids.tolist(), scores.tolist()))
        fused += weight * standardised(np.array([found.get(doc, floor) for doc in docs], dtype=np.float64))
    return dict(zip(docs, fused.tolist()))


def fuse_hybrid(dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray], depth: int,
                dense_weight: float = DENSE_WEIGHT) -> list[tuple[int, float]]:
    """``(chunk, score)`` best first, as hybrid search ranks the two rankings it fetched ``depth`` deep.

    A chunk one ranking did not reach scores its floor: at most the lowest cosine seen, and no BM25
    at all unless the BM25 list was cut at ``depth``. With no BM25 match (a question in another
    script) meaning alone ranks.
    """
    (dense_ids, dense_scores), (lexical_ids, lexical_scores) = dense, lexical
    if not len(lexical_ids):
        return list(zip(dense_ids.tolist(), dense_scores.tolist()))
    lexical_floor = float(lexical_scores.min()) if len(lexical_ids) >= depth else 0.0
    dense_floor = float(dense_scores.min()) if len(dense_ids) else 0.0
    fused = fuse_scores([(dense_ids, dense_scores, dense_floor), (lexical_ids, lexical_scores, lexical_floor)],
                        [dense_weight, 1.0 - dense_weight])
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


class SentenceMatch:
    """Each chunk's best sentence cosine, for the chunks a search found.

    A chunk's vector averages what all its sentences say; a question asks what one of them says.
    So a chunk's meaning score is the higher of its own cosine and its best sentence's
    (sentence vectors are pooled from the chunk's own pass, so they know their passage).
    """

    def __init__(self, sentence_vectors: np.ndarray, chunk_sentences: list[tuple[int, ...]]):
        self._vectors = sentence_vectors
        counts = np.fromiter((len(ids) for ids in chunk_sentences), dtype=np.int64, count=len(chunk_sentences))
        self._counts = counts
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self._members = np.fromiter((i for ids in chunk_sentences for i in ids), dtype=np.int64,
                                    count=int(counts.sum()))

    def best(self, chunk_ids: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
        """The best sentence cosine of each chunk (-inf for a chunk without sentences)."""
        counts = self._counts[chunk_ids]
        best = np.full(len(chunk_ids), -np.inf, dtype=np.float32)
        held = counts > 0
        if not held.any():
            return best
        counts, starts = counts[held], self._offsets[chunk_ids[held]]
        group = np.cumsum(counts) - counts  # where each chunk's sentences begin in the gathered list
        gather = np.repeat(starts - group, counts) + np.arange(int(counts.sum()))
        cosines = self._vectors[self._members[gather]].astype(np.float32) @ query_vector.astype(np.float32)
        best[held] = np.maximum.reduceat(cosines, group)
        return best


class Retriever:
    """Searches chunks; built once from the stored index and shared by all requests."""

    def __init__(self, chunk_vectors: np.ndarray, vector_index: VectorStore, lexical: LexicalIndex,
                 chunk_bulletin: list[str], bulletin_dates: dict[str, str | None], search_threads: int = 1,
                 sentences: SentenceMatch | None = None, dense_weight: float = DENSE_WEIGHT):
        """``search_threads``: FAISS's OpenMP pool for a question. One thread: a query is one
        vector, and a 2-thread pool only spins; on 32k Reuters chunks, exact search took 4.8 ms
        and 9.6 ms of CPU with two threads, 1.8 ms and 1.8 ms with one. ``sentences``: when
        given, the chunks dense search finds are rescored by their best sentence. ``dense_weight``:
        the weight of meaning in hybrid search, words the rest."""
        import faiss

        self._faiss = faiss
        self._search_threads = max(1, search_threads)
        self._vectors = chunk_vectors
        self.vector_index = vector_index
        self._lexical = lexical
        self._chunk_bulletin = np.asarray(chunk_bulletin, dtype=object)
        self._chunk_date = np.asarray([bulletin_dates.get(b) or "" for b in chunk_bulletin], dtype=object)
        self._dates = sorted(set(self._chunk_date.tolist()))
        self._sentences = sentences
        self._dense_weight = dense_weight
        self.size = len(chunk_bulletin)

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Boolean mask of the chunks that pass the filters (``None``: all pass)."""
        if filters.empty:
            return None
        mask = np.ones(self.size, dtype=bool)
        if filters.bulletin_ids:
            mask &= np.isin(self._chunk_bulletin, list(filters.bulletin_ids))
        if filters.date_from or filters.date_to:
            # a few distinct dates: judge each once (partial dates need a year that fits, see rag/dates.py)
            passing = [d for d in self._dates if in_range(d or None, filters.date_from, filters.date_to)]
            mask &= np.isin(self._chunk_date, passing)
        return mask

    def dense(self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` chunks nearest in meaning, best first: by their own cosine, then (with
        ``sentences``) rescored by the higher of it and their best sentence's."""
        ids, scores = self._nearest_chunks(query_vector, n, allowed)
        if self._sentences is None or not len(ids):
            return ids, scores
        scores = np.maximum(scores, self._sentences.best(ids, query_vector))
        order = np.argsort(-scores, kind="stable")
        return ids[order], scores[order]

    def _nearest_chunks(self, query_vector: np.ndarray, n: int,
                        allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if allowed is None:
            # OpenMP's thread count belongs to the calling thread: set it in whichever one asks
            self._faiss.omp_set_num_threads(self._search_threads)
            scores, ids = self.vector_index.search(query_vector[None, :].astype(np.float32), min(n, self.size))
            keep = ids[0] >= 0
            return ids[0][keep].astype(np.int64), scores[0][keep]
        candidates = np.flatnonzero(allowed)
        scores = self._vectors[candidates] @ query_vector
        order = top_indices(scores, n)
        return candidates[order], scores[order]

    def lexical(self, query: str, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        scores = self._lexical.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        ids = top_indices(scores, n)
        ids = ids[scores[ids] > 0]
        return ids, scores[ids]

    def search(self, query: str, query_vector: np.ndarray | None, mode: str, top_k: int,
               filters: Filters = Filters()) -> list[tuple[int, float]]:
        """Ranked ``(chunk index, score)`` pairs, best first."""
        allowed = self.allowed(filters)
        if mode == "dense":  # as deep as hybrid fetches, so that a chunk's best sentence can lift it
            ids, scores = self.dense(query_vector, max(FUSION_DEPTH, top_k), allowed)
            return list(zip(ids[:top_k].tolist(), scores[:top_k].tolist()))
        if mode == "bm25":
            ids, scores = self.lexical(query, top_k, allowed)
            return list(zip(ids.tolist(), scores.tolist()))
        depth = max(FUSION_DEPTH, top_k)
        return fuse_hybrid(self.dense(query_vector, depth, allowed), self.lexical(query, depth, allowed), depth,
                           self._dense_weight)[:top_k]
