"""The seam for dense search: what the retriever asks for a question's nearest chunks.

Today that is one FAISS index in the process, and FAISS's ``IndexFlatIP`` and ``IndexHNSWFlat``
satisfy ``VectorStore`` as they are. A corpus whose vectors outgrow one machine plugs in here
(README, "Past one machine"): ``ShardedStore`` merges the answers of shards that each hold a
contiguous range of chunk positions, wherever they run (a FAISS index in this process, or a
Ray actor holding one, behind the same two methods); a vector database would answer ``search``
with the chunk positions it was given at ``add``. Positions are global chunk numbers: records,
BM25, fusion and citations stay as they are.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class VectorStore(Protocol):
    """Inner-product search over L2-normalised chunk vectors, numbered in the order added."""

    d: int  # dimension
    ntotal: int  # vectors held

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)``, each ``(len(queries), k)``, best first; position -1 where
        fewer than ``k`` vectors exist."""
        ...

    def add(self, vectors: np.ndarray) -> None:
        ...


class ShardedStore:
    """Shards, each holding the next contiguous range of positions, searched as one store.

    Each shard returns its own top ``k`` (exact, or approximate as the shard is); the merged
    top ``k`` is exact over those answers, so recall is the shards' recall. New vectors go to
    the last shard (an appended segment stays with its neighbours).
    """

    def __init__(self, shards: Sequence[VectorStore]):
        if not shards:
            raise ValueError("a sharded store needs at least one shard")
        self._shards = list(shards)
        self.d = self._shards[0].d

    @property
    def ntotal(self) -> int:
        return sum(s.ntotal for s in self._shards)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, positions, offset = [], [], 0
        for shard in self._shards:
            s, p = shard.search(queries, k)
            scores.append(np.where(p >= 0, s, -np.inf))
            positions.append(np.where(p >= 0, p + offset, -1))
            offset += shard.ntotal
        scores, positions = np.hstack(scores), np.hstack(positions)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_scores = np.take_along_axis(scores, best, axis=1)
        top_positions = np.take_along_axis(positions, best, axis=1)
        return np.where(np.isfinite(top_scores), top_scores, 0).astype(np.float32), top_positions

    def add(self, vectors: np.ndarray) -> None:
        self._shards[-1].add(vectors)
