"""Fusion of the dense and BM25 rankings, and the search itself."""

import threading

import numpy as np
import pytest

from rag.search.hybrid import fuse_scores, standardised, top_indices


def test_fusion_puts_cosines_and_bm25_sums_on_one_scale():
    fused = fuse_scores([(np.array([3, 1, 2]), np.array([0.9, 0.6, 0.3]), 0.3),
                         (np.array([1, 3, 2]), np.array([30.0, 20.0, 10.0]), 0.0)], [0.5, 0.5])
    # each list is 1, 0, -1 standard deviations apart: 3 and 1 tie, and 2 is last in both
    assert fused[3] == pytest.approx(fused[1]) and fused[2] == pytest.approx(standardised(np.array([1.0, 0, -1]))[2])


def test_a_decisive_win_by_words_beats_a_narrow_win_by_meaning():
    dense = (np.array([7, 9, 4, 5]), np.array([0.61, 0.60, 0.40, 0.38]), 0.38)  # 7 ahead of 9 by a hair
    lexical = (np.array([9, 7, 4, 5]), np.array([12.0, 6.0, 5.0, 4.0]), 0.0)  # 9 far ahead of 7
    fused = fuse_scores([dense, lexical], [0.5, 0.5])
    assert fused[9] > fused[7] > fused[4] > fused[5]


def test_a_document_one_ranking_missed_takes_its_floor():
    dense = (np.array([1, 2, 3]), np.array([0.5, 0.5, 0.5]), 0.5)
    # BM25 found only 3: the other two share no word with the question and score 0
    fused = fuse_scores([dense, (np.array([3]), np.array([4.0]), 0.0)], [0.5, 0.5])
    assert fused[3] > fused[1] == fused[2]
    # a list cut at its depth: unreached documents score at most its lowest, here as much as 3
    cut = fuse_scores([dense, (np.array([3]), np.array([4.0]), 4.0)], [0.5, 0.5])
    assert cut[3] == cut[1] == cut[2]


def test_weights_move_the_order_between_meaning_and_words():
    dense = (np.array([1, 2, 3]), np.array([0.9, 0.5, 0.4]), 0.4)
    lexical = (np.array([2, 1, 3]), np.array([9.0, 2.0, 1.0]), 0.0)
    by_meaning = fuse_scores([dense, lexical], [0.8, 0.2])
    by_words = fuse_scores([dense, lexical], [0.2, 0.8])
    assert by_meaning[1] > by_meaning[2] and by_words[2] > by_words[1]


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


def test_a_chunk_is_lifted_by_its_best_sentence():
    import faiss

    from rag.search.bm25 import LexicalIndex
    from rag.search.hybrid import Retriever, SentenceMatch

    # chunk 0 is about two things, one of them word for word the question; chunk 1 is near as a whole
    chunks = np.array([[0.6, 0.8, 0.0], [0.8, 0.6, 0.0]], dtype=np.float32)
    sentences = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.8, 0.6, 0.0]], dtype=np.float16)
    index = faiss.IndexFlatIP(3)
    index.add(chunks)
    question = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    plain = Retriever(chunks, index, LexicalIndex(["a", "b"]), ["x", "y"], {})
    match = SentenceMatch(sentences, [(0, 1), (2,)])
    lifted = Retriever(chunks, index, LexicalIndex(["a", "b"]), ["x", "y"], {}, sentences=match)
    assert [i for i, _ in plain.search("", question, "dense", 2)] == [1, 0]
    ranked = lifted.search("", question, "dense", 2)
    assert [i for i, _ in ranked] == [0, 1] and ranked[0][1] == pytest.approx(1.0)
    assert match.best(np.array([1, 0]), question).tolist() == pytest.approx([0.8, 1.0], abs=1e-3)


def test_best_sentence_of_chunks_with_none_or_shared_sentences():
    from rag.search.hybrid import SentenceMatch

    sentences = np.eye(3, dtype=np.float16)
    match = SentenceMatch(sentences, [(0, 1), (), (1, 2)])  # sentence 1 ends one chunk and opens the next
    best = match.best(np.array([2, 1, 0]), np.array([0.0, 1.0, 0.0], dtype=np.float32))
    assert best[0] == 1.0 and best[1] == -np.inf and best[2] == 1.0


def test_the_hybrid_weight_moves_the_ranking_from_words_to_meaning():
    import faiss

    from rag.search.bm25 import LexicalIndex
    from rag.search.hybrid import Retriever

    vectors = np.eye(4, dtype=np.float32)
    index = faiss.IndexFlatIP(4)
    index.add(vectors)
    texts = ["solar quota", "wind quota quota", "coal", "hydro quota"]
    question = np.array([0.1, 0.2, 0.3, 0.9], dtype=np.float32)  # meaning: hydro (3) first, coal (2) next
    first = {}
    for weight in (0.0, 0.5, 1.0):
        retriever = Retriever(vectors, index, LexicalIndex(texts), list("abcd"), {}, dense_weight=weight)
        first[weight] = [i for i, _ in retriever.search("quota", question, "hybrid", 4)]
    assert first[1.0] == [3, 2, 1, 0]  # as dense search ranks
    assert first[0.0][0] == 1  # "quota" twice in a short text: BM25's best
    assert first[0.5][0] == 3  # hydro says "quota" and means the question
