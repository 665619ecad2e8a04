"""The embedder: backend choice, and the fast backend's agreement with plain fp32."""

import numpy as np
import pytest

from rag import embedding, onnx_backend
from rag.config import Settings
from rag.config import PROJECT_ROOT
from rag.corpus import read_corpus
from rag.embedding import Embedder
from rag.indexing import chunk_embedding_text, split_corpus


def test_auto_backend_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(embedding, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert embedding.choose_backend("auto") == "bf16"
    monkeypatch.setattr(embedding, "cpu_flags", lambda: frozenset({"avx2"}))
    expected = "onnx-int8" if onnx_backend.onnx_available() else "fp32"
    assert embedding.choose_backend("auto") == expected
    assert embedding.choose_backend("fp32") == "fp32"  # always selectable


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
    assert cosine.min() > 0.99, f"worst cosine {cosine.min():.4f}"
    # the exported model is cached: another encoder reuses the file instead of exporting again
    [cached] = list(cache.glob("*.int8.onnx"))
    stamp = cached.stat().st_mtime_ns
    Embedder(Settings().model_path, backend="onnx-int8", cache_dir=cache).encode(texts[:2])
    assert cached.stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.skipif(not onnx_backend.onnx_available(), reason="onnxruntime is not installed")
def test_onnx_int8_encodes_questions_in_fp32(models):
    fp32, int8, _ = models
    question = "Who leads the committee?"
    assert float(int8.encode_query(question) @ fp32.encode([question])[0]) > 0.9999
