"""``rag index --ray``: splitting and embedding as Ray Data stages, the generation written here.

The driver lists and reads the corpus, asks ``plan`` what to do and decides what is reused
(unchanged files keep their split, unchanged chunks their vectors: ``rag.index.build`` as
locally), and writes the generation with the local writer and its atomic switch
(``lifecycle.open_engine``, given the two stages below). Only the two costly steps leave the driver:

- splitting the files that need it: Ray Data tasks, one batch of files each (pysbd is
  single-threaded, so a task per CPU is the whole machine);
- embedding the chunks that need it: ``map_batches`` on a pool of actors, each loading the
  embedder once and running it on one thread (the local recipe: one single-threaded ONNX
  Runtime call per core beats a pool of threads on one call), one actor per cluster CPU.

Results come back in the order they went out (rows carry their position), so the records and
vectors are the ones a local build makes.
"""

from __future__ import annotations

import logging
import pickle
import warnings

import numpy as np

from rag.cluster import cluster_cpus
from rag.config import Settings
from rag.encode.embedding import Embedder
from rag.ingest.files import SourceFile
from rag.ingest.splitting import Progress, Split, split_file
from rag.service.engine import Engine
from rag.service.lifecycle import OpenReport, load_embedder, open_engine

log = logging.getLogger(__name__)
SPLIT_BATCH = 32  # files per splitting task: large enough to hide a task's overhead (~ms)
EMBED_BATCH = 64  # chunks per actor call: the model runs one text per call inside it anyway


def open_on_ray(settings: Settings, *, rebuild: bool = False, reuse: bool = False,
                progress: Progress | None = None) -> tuple[Engine, OpenReport]:
    """``open_engine`` with splitting and embedding on the Ray cluster already joined
    (``rag.cluster.connect``); loading, the plan, appends, checks and the write are the local ones."""
    local = load_embedder(settings)  # exports the ONNX copies once, into INDEX/models, for the actors
    embedder = RayEmbedder(settings, local)
    return open_engine(settings, embedder, rebuild=rebuild, reuse=reuse, progress=progress,
                       split_many=split_on_ray)


def split_on_ray(files: list[SourceFile], settings: Settings, progress: Progress | None):
    """``split_file`` of each file as Ray Data tasks, yielded in the files' order."""
    if not files:
        return
    import ray

    _quiet_data()
    rows = [{"i": i, "file": pickle.dumps(f)} for i, f in enumerate(files)]
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // SPLIT_BATCH)).map_batches(
        _split_batch, fn_kwargs={"settings": settings}, batch_size=SPLIT_BATCH, batch_format="numpy",
        compute=ray.data.TaskPoolStrategy(size=cluster_cpus()), num_cpus=1)
    done: dict[int, Split] = {}
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for i, split in zip(batch["i"].tolist(), batch["split"]):
            done[i] = pickle.loads(split)
        if progress:
            progress("splitting", len(done), len(files))
    for i in range(len(files)):
        yield done.pop(i)


def _split_batch(batch: dict, settings: Settings) -> dict:
    """A batch of files into their splits (a task; the files' text travels with them)."""
    splits = [pickle.dumps(split_file(pickle.loads(f), settings)) for f in batch["file"]]
    return {"i": batch["i"], "split": np.array(splits, dtype=object)}


class RayEmbedder:
    """The bulk half of an ``Embedder`` on Ray actors; questions and the metadata stay local.

    ``rag.index.build`` only calls ``encode_spans`` and ``encode`` for bulk work, so the build takes
    this in place of an ``Embedder`` and writes what a local build writes.
    """

    def __init__(self, settings: Settings, local: Embedder):
        self._settings = settings
        self._local = local
        self.backend, self.dimension, self.name = local.backend, local.dimension, local.name

    def encode_query(self, text: str) -> np.ndarray:
        return self._local.encode_query(text)

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        if len(texts) < EMBED_BATCH:  # a few sentences past the model's window: not worth a pool of actors
            return self._local.encode(texts, progress)
        return self.encode_spans(texts, [[] for _ in texts], progress)[0]

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]],
                     progress=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """As ``Embedder.encode_spans``, on a pool of one single-threaded actor per cluster CPU."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        if not texts:
            return out, pooled
        import ray

        _quiet_data()
        # longest first: the last batches to finish are the short ones
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        rows = [{"i": i, "text": texts[i], "spans": pickle.dumps(spans[i])} for i in order]
        actors = min(cluster_cpus(), max(1, len(texts) // EMBED_BATCH))
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // EMBED_BATCH)).map_batches(
            _EmbedBatch, fn_constructor_args=(self._settings,), batch_size=EMBED_BATCH, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1)
        done = 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            ids = batch["i"]
            out[ids] = batch["vector"]
            for i, rows_of_spans in zip(ids.tolist(), batch["pooled"]):
                pooled[i] = pickle.loads(rows_of_spans)
            done += len(ids)
            if progress:
                progress(done, len(texts))
        return out, pooled


class _EmbedBatch:
    """One actor of the pool: the embedder loaded once, bulk-encoding on one thread."""

    def __init__(self, settings: Settings):
        # one thread per actor and one actor per CPU: no pool inside an actor fights the others
        self._embedder = load_embedder(settings.with_(index_threads=1, query_threads=1))

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        spans = [pickle.loads(s) for s in batch["spans"]]
        vectors, pooled = self._embedder.encode_spans(texts, spans)
        return {"i": batch["i"], "vector": vectors,
                "pooled": np.array([pickle.dumps(p) for p in pooled], dtype=object)}


def _quiet_data() -> None:
    """Progress is the CLI's bar, as locally: no Ray Data bars or per-run logs on stderr."""
    import ray

    warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks", category=UserWarning)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.verbose_stats_logs = False
