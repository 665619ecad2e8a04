"""The embedder: a sentence-transformers model loaded from a local path, never from a hub.

Backends (``RAG_BACKEND``): ``fp32`` is plain sentence-transformers; ``bf16`` casts the weights
(fast only with AMX); ``onnx-int8`` bulk-encodes with an int8 ONNX Runtime copy of the model
and encodes questions with an fp32 ONNX copy (see ``onnx_backend``). ``auto`` picks bf16 on AMX CPUs, else
onnx-int8 when onnxruntime is installed, else fp32.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.config import QUERY_PRECISIONS, available_cores
from rag.encode import onnx_backend
from rag.encode.cpu import cpu_flags, has_int8_dot_product
from rag.errors import IndexStateError

log = logging.getLogger(__name__)


BACKENDS = ("fp32", "bf16", "onnx-int8")
# The int8 ONNX copy encodes one text per call, one call per core at a time, each call on one
# thread: no padding, no barrier between threads, activations in cache. 600 Reuters chunks on 2
# cores (AVX-512 VNNI): 98 chunks/s, against 75 with batches of 4 on a 2-thread pool and 69 with
# batches of 16; short texts (CLIMATE-FEVER sentences) likewise, 370/s against 298 at 16.
ONNX_BATCH = 1


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
    ``index_threads`` is used for bulk encoding: torch's pool, or that many single-threaded ONNX
    Runtime calls at once (0: one per core the process may use). ``cache_dir`` holds the ONNX
    copies that onnx-int8 uses, exported once; with them cached, onnx-int8 never loads torch.
    ``query_precision`` ("int8" or "fp32") is the copy onnx-int8 embeds questions with: int8, the
    corpus's own, takes half the time, with answers and retrieval as good (eval/ANSWER_MODEL_LOG.md,
    "Questions embedded in int8"); fp32 gives sentence-transformers' vectors.
    """

    def __init__(self, model_path: str, *, backend: str = "auto", batch_size: int = 16,
                 query_threads: int = 1, index_threads: int = 0, name: str | None = None,
                 cache_dir: Path | None = None, query_precision: str = "int8"):
        # No hub is reachable here: make sure nothing tries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if query_precision not in QUERY_PRECISIONS:
            raise ValueError(f"query_precision must be {' or '.join(QUERY_PRECISIONS)}, not {query_precision!r}")
        self.backend = choose_backend(backend)
        self.batch_size = batch_size
        self.query_threads = max(1, query_threads)
        self.index_threads = index_threads or available_cores()
        self.name = name or model_path
        self._model_path = model_path
        self._model = self._torch = None
        if self.backend == "onnx-int8":
            cache = Path(cache_dir) if cache_dir else onnx_backend.DEFAULT_CACHE
            paths = onnx_backend.cached(model_path, cache) or onnx_backend.cached_models(
                self._load_torch_model(), model_path, cache)
            # single-threaded calls, ``index_threads`` of them at once (see ``ONNX_BATCH``); the
            # block-quantised layers in float where the CPU lacks int8 dot products (block_matmul.py)
            float_blocks = not has_int8_dot_product()
            self._bulk = onnx_backend.OnnxEncoder(paths[1], model_path, 1, float_blocks)
            if query_precision == "fp32":
                self._query = onnx_backend.OnnxEncoder(paths[0], model_path, self.query_threads)
            elif self.query_threads == 1:  # the same session: one copy of the weights in memory
                self._query = self._bulk
            else:
                self._query = onnx_backend.OnnxEncoder(paths[1], model_path, self.query_threads, float_blocks)
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
        encode_batch = self._bulk.encode if self.backend == "onnx-int8" else self._encode_torch
        for ids, vectors in self._batches(texts, encode_batch, progress):
            out[ids] = vectors
        return out

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]],
                     progress=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and, from the same pass, of character spans inside each text.

        A span's vector is the mean of the token states inside it ("late chunking"): a sentence
        gets a vector that knows its passage at no extra model cost. A span with no token in
        the model's window (past its maximum length) gets a row of NaN.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        encode_batch = self._bulk.encode_tokens if self.backend == "onnx-int8" else self._encode_torch_tokens
        for ids, (vectors, states, offsets) in self._batches(texts, encode_batch, progress):
            out[ids] = vectors
            for i, hidden, where in zip(ids.tolist(), states, offsets):
                pooled[i] = pool_spans(hidden, where, spans[i])
        return out, pooled

    def _batches(self, texts: list[str], encode_batch, progress):
        """``(indices, result)`` per batch of similar-length texts, in order.

        torch runs one batch at a time on a pool of ``index_threads``; ONNX Runtime runs
        ``index_threads`` single-threaded calls at once.
        """
        order = np.argsort([len(t) for t in texts], kind="stable")
        onnx = self.backend == "onnx-int8"
        size = min(self.batch_size, ONNX_BATCH) if onnx else self.batch_size
        batches = [order[start:start + size] for start in range(0, len(texts), size)]
        done = 0
        with self._threads(self.index_threads):
            results = ordered_map(lambda ids: encode_batch([texts[i] for i in ids]), batches,
                                  self.index_threads if onnx else 1)
            for ids, result in zip(batches, results):
                yield ids, result
                done += len(ids)
                if progress:
                    progress(done, len(texts))

    def _encode_torch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, batch_size=len(texts), normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def _encode_torch_tokens(self, texts: list[str]):
        rows = self._model.encode(texts, batch_size=len(texts), output_value=None, show_progress_bar=False)
        encoded = self._model.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                        max_length=self._model.max_seq_length)
        vectors = np.vstack([r["sentence_embedding"].float().numpy() for r in rows])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        states, offsets = [], []
        for row, ids, where in zip(rows, encoded["input_ids"], encoded["offset_mapping"]):
            states.append(row["token_embeddings"][:len(ids)].float().numpy())
            offsets.append(np.array(where, dtype=np.int64).reshape(-1, 2))
        return vectors, states, offsets

    def encode_query(self, text: str) -> np.ndarray:
        """One question, on the small query thread pool (onnx-int8: with the copy ``query_precision`` names)."""
        if self.backend == "onnx-int8":
            return self._query.encode([text])[0]
        with self._torch.inference_mode():
            vector = self._model.encode([text], batch_size=1, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vector[0].astype(np.float32)


def ordered_map(function, items: list, workers: int):
    """``function`` over ``items`` on ``workers`` threads, yielding results in order; at most
    ``2 * workers`` calls are queued ahead of the consumer."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="encode") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the consumer stopped early or a call failed
                future.cancel()


def pool_spans(states: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """L2-normalised mean of the token states inside each character span (NaN rows for empty spans).

    ``offsets`` are each token's character range in the text; special tokens have empty ranges.
    """
    out = np.full((len(spans), states.shape[1] if states.ndim == 2 else 0), np.nan, dtype=np.float32)
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for j, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (ends <= b)
        if inside.any():
            vector = states[inside].mean(axis=0)
            out[j] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return out
