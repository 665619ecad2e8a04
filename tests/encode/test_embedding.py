"""The embedder: backend choice, and the fast backend's agreement with plain fp32."""

import numpy as np
import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.encode import embedding, onnx_backend
from rag.encode.embedding import Embedder
from rag.index.build import chunk_embedding_text, sentence_owners, split_corpus
from rag.ingest.files import read_corpus


def test_auto_backend_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(embedding, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert embedding.choose_backend("auto") == "bf16"
    monkeypatch.setattr(embedding, "cpu_flags", lambda: frozenset({"avx2"}))
    expected = "onnx-int8" if onnx_backend.onnx_available() else "fp32"
    assert embedding.choose_backend("auto") == expected
    assert embedding.choose_backend("fp32") == "fp32"  # always selectable


def test_pool_spans_averages_the_token_states_inside_each_span():
    states = np.array([[9, 9], [1, 0], [3, 0], [0, 2], [9, 9]], dtype=np.float32)  # [CLS] a b c [SEP]
    offsets = np.array([[0, 0], [0, 3], [4, 7], [8, 12], [0, 0]])  # special tokens have empty ranges
    pooled = embedding.pool_spans(states, offsets, [(0, 7), (8, 12), (20, 30)])
    assert np.allclose(pooled[0], [1, 0]) and np.allclose(pooled[1], [0, 1])  # mean 2,0 then normalised
    assert np.isnan(pooled[2]).all()  # no token inside: the caller embeds it another way


def seed_chunks():
    bulletins, sentences, chunks = split_corpus(read_corpus(PROJECT_ROOT / "seeds", PROJECT_ROOT), Settings())
    titles = {b.id: b.title for b in bulletins}
    texts = [chunk_embedding_text(titles[c.bulletin_id], c.text) for c in chunks]
    owners = sentence_owners(chunks, titles, sentences)
    spans = [[(a, b) for c, a, b in owners if c == n] for n in range(len(chunks))]
    assert sum(map(len, spans)) == len(sentences)
    return texts, spans


def seed_texts() -> list[str]:
    bulletins, sentences, chunks = split_corpus(read_corpus(PROJECT_ROOT / "seeds", PROJECT_ROOT), Settings())
    titles = {b.id: b.title for b in bulletins}
    return [chunk_embedding_text(titles[x.bulletin_id], x.text) for x in [*sentences, *chunks]]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = Settings().model_path
    cache = tmp_path_factory.mktemp("models")
    return Embedder(path, backend="fp32"), Embedder(path, backend="onnx-int8", cache_dir=cache), cache


@pytest.mark.slow
@pytest.mark.skipif(not onnx_backend.onnx_available(), reason="onnxruntime is not installed")
def test_int8_vectors_agree_with_fp32_on_the_seeds(models):
    fp32, int8, cache = models
    texts = seed_texts()
    fast, plain = int8.encode(texts), fp32.encode(texts)
    assert fast.shape == plain.shape == (len(texts), fp32.dimension)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-3)
    cosine = (fast * plain).sum(axis=1)
    # The real digest's worst text is at 0.988 (the invented digest's was 0.995);
    # the median stays above 0.99 and retrieval quality is unchanged (README: CLIMATE-FEVER int8 vs fp32).
    assert cosine.min() > 0.985 and np.median(cosine) > 0.99, f"worst cosine {cosine.min():.4f}"
    # the exported model is cached: another encoder reuses the file instead of exporting again
    [cached] = list(cache.glob("*.int8.onnx"))
    stamp = cached.stat().st_mtime_ns
    Embedder(Settings().model_path, backend="onnx-int8", cache_dir=cache).encode(texts[:2])
    assert cached.stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.skipif(not onnx_backend.onnx_available(), reason="onnxruntime is not installed")
def test_int8_sentence_vectors_pooled_from_passages_agree_with_fp32(models):
    fp32, int8, _ = models
    texts, spans = seed_chunks()
    (plain, plain_spans), (_, fast_spans) = fp32.encode_spans(texts, spans), int8.encode_spans(texts, spans)
    assert np.allclose(plain, fp32.encode(texts), atol=1e-5)  # the passage vectors are the usual ones
    cosine = np.concatenate([(a * b).sum(axis=1) for a, b in zip(plain_spans, fast_spans)])
    # worst 0.988 on the real digest (0.995 on the invented one), as for whole texts above
    assert len(cosine) == sum(map(len, spans)) and cosine.min() > 0.985 and np.median(cosine) > 0.99, \
        f"worst cosine {cosine.min():.4f}"


@pytest.mark.slow
@pytest.mark.skipif(not onnx_backend.onnx_available(), reason="onnxruntime is not installed")
def test_onnx_int8_encodes_questions_with_the_corpus_copy_or_in_fp32(models):
    fp32, int8, cache = models
    question = "Who leads the committee?"
    # by default a question is embedded like the corpus, in int8: the same vector as a passage's
    assert np.array_equal(int8.encode_query(question), int8.encode([question])[0])
    assert float(int8.encode_query(question) @ fp32.encode([question])[0]) > 0.985
    plain = Embedder(Settings().model_path, backend="onnx-int8", cache_dir=cache, query_precision="fp32")
    assert float(plain.encode_query(question) @ fp32.encode([question])[0]) > 0.9999
    two_threads = Embedder(Settings().model_path, backend="onnx-int8", cache_dir=cache, query_threads=2)
    assert np.allclose(two_threads.encode_query(question), int8.encode_query(question), atol=1e-4)
    with pytest.raises(ValueError, match="query_precision"):
        Embedder(Settings().model_path, backend="onnx-int8", cache_dir=cache, query_precision="fp16")


def test_ordered_map_keeps_order_and_bounds_the_queue():
    import threading
    import time

    running, most = [0], [0]
    lock = threading.Lock()

    def slow_square(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.002 * (x % 3))  # later items often finish first
        with lock:
            running[0] -= 1
        return x * x

    results = embedding.ordered_map(slow_square, list(range(40)), workers=3)
    assert list(results) == [x * x for x in range(40)]
    assert most[0] <= 3
    assert list(embedding.ordered_map(slow_square, [2, 1], workers=1)) == [4, 1]


def test_ordered_map_raises_the_first_failure_in_order():
    def fail_on_three(x):
        if x == 3:
            raise ValueError("three")
        return x

    seen = []
    with pytest.raises(ValueError, match="three"):
        for value in embedding.ordered_map(fail_on_three, list(range(10)), workers=2):
            seen.append(value)
    assert seen == [0, 1, 2]
