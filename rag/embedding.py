"""The embedder: a sentence-transformers model loaded from a local path, never from a hub.

Backends (``RAG_BACKEND``): ``fp32`` is plain sentence-transformers; ``bf16`` casts the weights
(fast only with AMX); ``onnx-int8`` bulk-encodes with an int8 ONNX Runtime copy of the model
and encodes questions with an fp32 ONNX copy (see ``onnx_backend``). ``auto`` picks bf16 on AMX CPUs, else
onnx-int8 when onnxruntime is installed, else fp32.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import onnx_backend
from .errors import IndexStateError

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags of this machine, read at run time (machines of one kind differ)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


BACKENDS = ("fp32", "bf16", "onnx-int8")


def choose_backend(requested: str) -> str:
    """``bf16`` only where the CPU has AMX (elsewhere bf16 is slower than fp32); then onnx-int8."""
    if requested == "auto":
        if "amx_bf16" in cpu_flags():
            return "bf16"
        return "onnx-int8" if onnx_backend.onnx_available() else "fp32"
    if requested == "onnx-int8" and not onnx_backend.onnx_available():
        raise IndexStateError("RAG_BACKEND=onnx-int8 needs onnxruntime and onnx: pip install onnxruntime onnx")
    return requested


class Embedder:
    """Encodes texts into L2-normalised float32 vectors.

    ``query_threads`` is the thread pool used for one question at a time (1 by default: on a
    shared 2-core machine a larger pool stalls when another process holds a core);
    ``index_threads`` is used for bulk encoding. ``cache_dir`` holds the ONNX copies that
    onnx-int8 uses, exported once; with them cached, onnx-int8 never loads torch at all.
    """

    def __init__(self, model_path: str, *, backend: str = "auto", batch_size: int = 16,
                 query_threads: int = 1, index_threads: int = 0, name: str | None = None,
                 cache_dir: Path | None = None):
        # No hub is reachable here: make sure nothing tries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.backend = choose_backend(backend)
        self.batch_size = batch_size
        self.query_threads = max(1, query_threads)
        self.index_threads = index_threads or (os.cpu_count() or 1)
        self.name = name or model_path
        self._model_path = model_path
        self._model = self._torch = None
        if self.backend == "onnx-int8":
            cache = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "bulletin-rag-models"
            paths = onnx_backend.cached(model_path, cache) or onnx_backend.cached_models(
                self._load_torch_model(), model_path, cache)
            self._query = onnx_backend.OnnxEncoder(paths[0], model_path, self.query_threads)
            self._bulk = onnx_backend.OnnxEncoder(paths[1], model_path, self.index_threads)
            self.dimension = self._query.dimension
        else:
            self.dimension = int(self._load_torch_model().get_embedding_dimension())
        log.info("loaded embedding model %s (%s, dim %d)", self.name, self.backend, self.dimension)

    def _load_torch_model(self):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        kwargs = {"model_kwargs": {"dtype": torch.bfloat16}} if self.backend == "bf16" else {}
        torch.set_num_threads(self.query_threads)
        self._torch = torch
        self._model = SentenceTransformer(self._model_path, device="cpu", local_files_only=True, **kwargs)
        return self._model

    @contextmanager
    def _threads(self, n: int):
        if self.backend == "onnx-int8":  # ONNX Runtime sessions have their own pools
            yield
            return
        previous = self._torch.get_num_threads()
        self._torch.set_num_threads(n)
        try:
            with self._torch.inference_mode():
                yield
        finally:
            self._torch.set_num_threads(previous)

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        """Bulk-encode ``texts`` in length-sorted batches; ``progress(done, total)`` is called per batch."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        encode_batch = self._bulk.encode if self.backend == "onnx-int8" else self._encode_torch
        with self._threads(self.index_threads):
            for start in range(0, len(texts), self.batch_size * 8):
                ids = order[start:start + self.batch_size * 8]
                group = [texts[i] for i in ids]
                out[ids] = np.vstack([encode_batch(group[b:b + self.batch_size])
                                      for b in range(0, len(group), self.batch_size)])
                if progress:
                    progress(min(start + len(ids), len(texts)), len(texts))
        return out

    def _encode_torch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, batch_size=len(texts), normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One question, on the small query thread pool (onnx-int8 asks its fp32 ONNX copy)."""
        if self.backend == "onnx-int8":
            return self._query.encode([text])[0]
        with self._torch.inference_mode():
            vector = self._model.encode([text], batch_size=1, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vector[0].astype(np.float32)
