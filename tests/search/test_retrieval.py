"""Fusion of the dense and BM25 rankings, and the search itself."""

import threading

import numpy as np

from rag.search.hybrid import fuse_rrf, tie_break, top_indices


def test_rrf_sums_reciprocal_ranks():
    fused = fuse_rrf([np.array([3, 1]), np.array([1, 2])], k=60)
    assert fused[1] == 1 / 62 + 1 / 61 and fused[3] == 1 / 61 and fused[2] == 1 / 62


def test_swapped_ranks_tie_in_rrf_and_the_more_decisive_win_breaks_the_tie():
    dense = (np.array([7, 9]), np.array([0.61, 0.60]))  # 7 wins narrowly by meaning
    lexical = (np.array([9, 7]), np.array([12.0, 6.0]))  # 9 wins clearly by words
    fused = fuse_rrf([dense[0], lexical[0]])
    assert fused[7] == fused[9]
    margin = tie_break([dense, lexical])
    assert margin[9] > margin[7]


def test_top_indices_respects_the_allowed_mask_and_order():
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert top_indices(scores, 2).tolist() == [1, 3]
    assert top_indices(scores, 3, allowed=np.array([True, False, True, False])).tolist() == [2, 0]


def test_questions_search_faiss_on_one_thread_and_builds_put_the_pool_back():
    import faiss

    from rag.index import store
    from rag.search.bm25 import LexicalIndex
    from rag.search.hybrid import Retriever

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faiss.omp_set_num_threads(2)
    index = store.build_vector_index(vectors, hnsw_threshold=100, threads=2)
    assert faiss.omp_get_max_threads() == 2  # the build restores what it found
    texts = [f"story {i}" for i in range(300)]
    retriever = Retriever(vectors, index, LexicalIndex(texts), [f"b{i}" for i in range(300)], {})
    seen = {}

    def ask_in_a_worker_thread():  # as the server's worker pool does
        seen["ids"], _ = retriever.dense(vectors[7], 5, None)
        seen["threads"] = faiss.omp_get_max_threads()

    worker = threading.Thread(target=ask_in_a_worker_thread)
    worker.start()
    worker.join()
    assert seen["ids"][0] == 7
    assert seen["threads"] == 1  # a 2-thread pool only spins for one query vector


def test_hybrid_search_with_no_lexical_match_ranks_by_meaning_alone():
    import faiss

    from rag.search.bm25 import LexicalIndex
    from rag.search.hybrid import Retriever

    vectors = np.eye(4, dtype=np.float32)
    index = faiss.IndexFlatIP(4)
    index.add(vectors)
    retriever = Retriever(vectors, index, LexicalIndex(["alpha", "beta", "gamma", "delta"]), list("abcd"), {})
    query = np.array([0.1, 0.9, 0.3, 0.0], dtype=np.float32)
    dense = retriever.search("", query, "dense", 3)
    assert retriever.search("", query, "hybrid", 3) == dense  # nothing for BM25: the cosines stand
    assert retriever.search("zzz unknown", query, "hybrid", 3) == dense
    fused = retriever.search("gamma", query, "hybrid", 3)
    assert fused[0][0] == 2 and fused != dense  # a word in common: fused as before
