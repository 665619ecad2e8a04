"""The embedder: a sentence-transformers model loaded from a local path, never from a hub."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

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


def choose_backend(requested: str) -> str:
    """``bf16`` only where the CPU has AMX (elsewhere bf16 is slower than fp32)."""
    if requested == "auto":
        return "bf16" if "amx_bf16" in cpu_flags() else "fp32"
    return requested


class Embedder:
    """Encodes texts into L2-normalised float32 vectors.

    ``query_threads`` is the torch pool used for one question at a time (1 by default: on a
    shared 2-core machine a larger pool stalls when another process holds a core);
    ``index_threads`` is used for bulk encoding.
    """

    def __init__(self, model_path: str, *, backend: str = "auto", batch_size: int = 16,
                 query_threads: int = 1, index_threads: int = 0, name: str | None = None):
        # No hub is reachable here: make sure nothing tries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.backend = choose_backend(backend)
        self.batch_size = batch_size
        self.query_threads = max(1, query_threads)
        self.index_threads = index_threads or (os.cpu_count() or 1)
        self.name = name or model_path
        kwargs = {"model_kwargs": {"dtype": torch.bfloat16}} if self.backend == "bf16" else {}
        torch.set_num_threads(self.query_threads)
        self._torch = torch
        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True, **kwargs)
        self.dimension = int(self._model.get_embedding_dimension())
        log.info("loaded embedding model %s (%s, dim %d)", self.name, self.backend, self.dimension)

    @contextmanager
    def _threads(self, n: int):
        previous = self._torch.get_num_threads()
        self._torch.set_num_threads(n)
        try:
            yield
        finally:
            self._torch.set_num_threads(previous)

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        """Bulk-encode ``texts`` in length-sorted batches; ``progress(done, total)`` is called per batch."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        with self._threads(self.index_threads), self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size * 8):
                ids = order[start:start + self.batch_size * 8]
                out[ids] = self._model.encode(
                    [texts[i] for i in ids], batch_size=self.batch_size,
                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
                ).astype(np.float32)
                if progress:
                    progress(min(start + len(ids), len(texts)), len(texts))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One question, on the small query thread pool."""
        with self._torch.inference_mode():
            vector = self._model.encode([text], batch_size=1, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vector[0].astype(np.float32)
