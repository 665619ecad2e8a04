"""The vector-store seam: FAISS satisfies it as is; shards searched as one give the same ranking."""

from __future__ import annotations

import faiss
import numpy as np

from rag.search.hybrid import Retriever
from rag.search.vector_store import ShardedStore


def _vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _flat(vectors: np.ndarray) -> faiss.IndexFlatIP:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def test_shards_searched_as_one_rank_as_one_index():
    vectors, queries = _vectors(300), _vectors(7, seed=1)
    whole = _flat(vectors)
    sharded = ShardedStore([_flat(vectors[:120]), _flat(vectors[120:250]), _flat(vectors[250:])])
    assert sharded.ntotal == 300 and sharded.d == 16
    expected_scores, expected_ids = whole.search(queries, 10)
    scores, ids = sharded.search(queries, 10)
    assert np.array_equal(ids, expected_ids)
    assert np.allclose(scores, expected_scores, atol=1e-6)


def test_fewer_vectors_than_k_leave_minus_one_and_new_vectors_join_the_last_shard():
    vectors = _vectors(5)
    sharded = ShardedStore([_flat(vectors[:2]), _flat(vectors[2:4])])
    sharded.add(vectors[4:])
    _, ids = sharded.search(vectors[:1], 8)
    assert sorted(ids[0][:5].tolist()) == [0, 1, 2, 3, 4] and ids[0][5:].tolist() == [-1, -1, -1]


def test_the_retriever_searches_a_sharded_store():
    from rag.search.bm25 import LexicalIndex

    vectors = _vectors(40)
    texts = [f"chunk {i}" for i in range(40)]
    retriever = Retriever(vectors, ShardedStore([_flat(vectors[:25]), _flat(vectors[25:])]),
                          LexicalIndex(texts), [f"b{i}" for i in range(40)], {})
    ranked = retriever.search("chunk", vectors[31], "dense", 3)
    assert ranked[0][0] == 31
