"""Indexing benchmark: chunks per second of each embedding backend, and the cost of a real index.

    .venv/bin/python -m bench.index --corpus seeds
    .venv/bin/python -m bench.index --corpus ../shared/data/reuters21578/reuters21578.jsonl --limit 2000
    .venv/bin/python -m bench.index --corpus ../shared/data/climate-fever --backends fp32,onnx-int8 --build

The corpus is a folder of bulletin files, a JSONL of stories (``newid``, ``title``, ``body``) or a
BEIR folder (``corpus.jsonl``). Every backend encodes the same chunk texts (headline + chunk, as the
index does) in its own process, so its peak memory is its own; fp32 runs first as the baseline and
each backend's vectors are compared with it (cosine). Wall seconds on a shared machine are noisy:
``chunks_per_cpu_s`` (chunks per CPU-second of the process) is steadier. ``--build`` also builds a
full index with the configured backend and measures a re-index of the unchanged corpus, adding one
bulletin, bytes on disk, and recall@10 of HNSW against exact search. Prints JSON, then a summary line.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.corpora import bulletin_folder
from bench.output import check_out, emit
from rag.config import PROJECT_ROOT, Settings
from rag.encode.cpu import CPU_FEATURES, cpu_flags
from rag.fileio import write_bulletin
from rag.index.build import chunk_embedding_text, split_corpus
from rag.ingest.files import read_corpus
from rag.progress import ProgressBar

log = logging.getLogger("bench.index")


def chunk_texts(folder: Path, settings: Settings) -> tuple[list[str], dict]:
    started = time.perf_counter()
    files = read_corpus(folder, PROJECT_ROOT)
    bulletins, sentences, chunks = split_corpus(files, settings)
    titles = {b.id: b.title for b in bulletins}
    texts = [chunk_embedding_text(titles[c.bulletin_id], c.text) for c in chunks]
    stats = {"files": len(files), "bulletins": len(bulletins), "sentences": len(sentences),
             "chunks": len(chunks), "split_s": round(time.perf_counter() - started, 2)}
    return texts, stats


def run_backend(backend: str, texts_file: Path, vectors_file: Path, settings: Settings, cache: Path) -> dict:
    """Encode the texts with one backend in a child process; its report as a dict."""
    command = [sys.executable, "-m", "bench.index", "--worker", backend, "--texts", str(texts_file),
               "--vectors", str(vectors_file), "--cache", str(cache),
               "--batch-size", str(settings.batch_size), "--threads", str(settings.index_threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if done.returncode != 0:
        return {"backend": backend, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(backend: str, texts_file: Path, vectors_file: Path, cache: Path, batch_size: int, threads: int) -> dict:
    from rag.encode.embedding import Embedder

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    started = time.perf_counter()
    embedder = Embedder(Settings().model_path, backend=backend, batch_size=batch_size,
                        index_threads=threads, cache_dir=cache)
    embedder.encode(texts[:2])  # loads the model, exports and loads the ONNX copy if needed
    setup = time.perf_counter() - started
    cpu, wall = time.process_time(), time.perf_counter()
    vectors = embedder.encode(texts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    np.save(vectors_file, vectors)
    return {"backend": embedder.backend, "chunks": len(texts), "seconds": round(wall, 2),
            "chunks_per_s": round(len(texts) / wall, 1), "cpu_seconds": round(cpu, 2),
            "chunks_per_cpu_s": round(len(texts) / cpu, 1), "setup_s": round(setup, 2),
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def measure_build(folder: Path, settings: Settings, workdir: Path, keep: bool = False,
                  reuse: bool = False) -> dict:
    """A full index build (or, with ``reuse``, opening the one in ``workdir``), a re-index of the
    unchanged corpus, one bulletin added through the API path and as a file, size, HNSW recall."""
    import shutil

    from rag.index import store
    from rag.service.lifecycle import load_embedder, open_engine
    from rag.service.live import LiveIndex

    settings = settings.with_(seeds=folder, index=workdir / "index")
    embedder = load_embedder(settings)
    started = time.perf_counter()
    bar = ProgressBar()
    engine, opened = open_engine(settings, embedder, rebuild=not reuse, progress=bar)
    bar.close()
    full = time.perf_counter() - started
    manifest = engine.index.manifest
    index_bytes = folder_bytes(store.current_generation(settings.index))
    started = time.perf_counter()
    again, _ = open_engine(settings, embedder, rebuild=True, reuse=True)
    unchanged = time.perf_counter() - started
    reembedded = again.index.manifest.embedded
    title, text = ("Wind Farm Opens In Gansu", "On May 2, 2024, a 500-megawatt wind farm opened in Jiuquan, "
                   "Gansu. It will supply power to 300,000 homes.")
    live = LiveIndex(again)
    started = time.perf_counter()
    added = live.add(title, text)  # what POST /bulletins does
    add_api = time.perf_counter() - started
    api_embedded = live.engine.index.manifest.embedded
    started = time.perf_counter()
    live.delete(added.id)  # what DELETE /bulletins/{id} does: a rebuild reusing every vector
    remove_api = time.perf_counter() - started
    extra = folder / "zz-bench-added.txt"
    write_bulletin(extra, title, text)
    try:
        started = time.perf_counter()
        open_engine(settings, embedder)  # a file dropped into the folder, then `rag index`
        add_file = time.perf_counter() - started
    finally:
        extra.unlink()
    started = time.perf_counter()
    open_engine(settings, embedder)
    remove_file = time.perf_counter() - started
    recall = hnsw_recall(engine.index.chunk_vectors, headline_queries(engine))
    if not keep:
        shutil.rmtree(settings.index, ignore_errors=True)
    chunks = manifest.chunks
    return {"backend": manifest.backend, "index_type": manifest.index_type,
            "files": manifest.files,
            "chunks": chunks, "sentences": manifest.sentences,
            "build_s": round(full, 2), "built": opened.rebuilt, "embedded": manifest.embedded,
            "chunks_per_s": round(manifest.embedded / full, 1) if opened.rebuilt else None,
            "reindex_unchanged_s": round(unchanged, 2), "reindex_unchanged_embedded": reembedded,
            "add_one_bulletin_s": round(add_api, 2), "add_one_embedded": api_embedded,
            "remove_one_bulletin_s": round(remove_api, 2),
            "add_one_file_s": round(add_file, 2), "remove_one_file_s": round(remove_file, 2),
            "index_bytes": index_bytes, "index_mb_per_10k_chunks": round(index_bytes / 1e6 * 10_000 / max(1, chunks), 1),
            "hnsw_recall_at_10": recall, "peak_rss_mb": peak_rss_mb()}


def headline_queries(engine, n: int = 300) -> np.ndarray:
    """Question-like queries: ``n`` sampled headlines, encoded as questions are."""
    bulletins = engine.index.bulletins
    picks = np.random.default_rng(0).choice(len(bulletins), size=min(n, len(bulletins)), replace=False)
    return np.vstack([engine.embedder.encode_query(bulletins[i].title) for i in picks])


def hnsw_recall(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float | None:
    """Recall@k of the store's HNSW index against exact search."""
    from rag.index import store

    if len(vectors) <= k:
        return None
    exact = store.build_vector_index(vectors, hnsw_threshold=len(vectors) + 1)
    approximate = store.build_vector_index(vectors, hnsw_threshold=0)
    _, truth = exact.search(queries, k)
    _, found = approximate.search(queries, k)
    return round(float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found)])), 4)


def default_backends() -> list[str]:
    """fp32 (the baseline) and onnx-int8, plus bf16 where the CPU computes in bf16 (AMX or AVX-512 BF16)."""
    backends = ["fp32", "onnx-int8"]
    if cpu_flags() & {"amx_bf16", "avx512_bf16"}:
        backends.insert(1, "bf16")
    return backends


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "seeds",
                        help="seeds folder, JSONL of stories, or BEIR folder")
    parser.add_argument("--limit", type=int, help="first N stories only")
    parser.add_argument("--sample", type=int, help="encode only the first N chunks per backend")
    parser.add_argument("--backends", help="comma-separated (default: fp32,onnx-int8, plus bf16 on AMX or "
                        "AVX-512 BF16 CPUs); "
                        "none: only --build")
    parser.add_argument("--build", action="store_true", help="also build a full index and measure it")
    parser.add_argument("--reuse-index", action="store_true",
                        help="with --build and --workdir: open the index already in WORKDIR/index instead of "
                        "building it again (rebuilt only if missing or stale)")
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    parser.add_argument("--workdir", type=Path, help="keep the bulletin files and the --build index here "
                        "(WORKDIR/bulletins, WORKDIR/index), e.g. for bench.query")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_out(parser, args.out)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.worker:
        print(json.dumps(worker(args.worker, args.texts, args.vectors, args.cache, args.batch_size, args.threads)))
        return 0

    settings = Settings.from_env()
    backends = args.backends.split(",") if args.backends else default_backends()
    backends = [] if backends == ["none"] else backends
    if "fp32" in backends:
        backends = ["fp32"] + [b for b in backends if b != "fp32"]
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        folder = bulletin_folder(args.corpus, workdir, args.limit)
        texts, corpus = chunk_texts(folder, settings) if backends else ([], {})
        if args.sample:
            texts = texts[:args.sample]
        texts_file = workdir / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        cache = workdir / "models"
        report = {"corpus": str(args.corpus), "limit": args.limit, **corpus, "encoded_chunks": len(texts),
                  "cpu": {flag: flag in cpu_flags() for flag in CPU_FEATURES},
                  "batch_size": settings.batch_size, "backends": []}
        baseline = None
        for backend in backends:
            vectors_file = workdir / f"{backend}.npy"
            result = run_backend(backend, texts_file, vectors_file, settings, cache)
            if "error" not in result:
                vectors = np.load(vectors_file)
                if backend == "fp32":
                    baseline = vectors
                elif baseline is not None:
                    cosine = (vectors * baseline).sum(axis=1)
                    result["cosine_to_fp32"] = {"min": round(float(cosine.min()), 4),
                                                "mean": round(float(cosine.mean()), 5)}
                    top = report["backends"][0]
                    result["speedup_vs_fp32"] = round(result["chunks_per_s"] / top["chunks_per_s"], 2)
                    result["cpu_speedup_vs_fp32"] = round(result["chunks_per_cpu_s"] / top["chunks_per_cpu_s"], 2)
            report["backends"].append(result)
        if args.build:
            report["build"] = build = measure_build(folder, settings, workdir, keep=args.workdir is not None,
                                                    reuse=args.reuse_index)
            fp32 = next((r for r in report["backends"] if r.get("backend") == "fp32" and "error" not in r), None)
            if fp32 and build["chunks_per_s"]:
                # the whole build (split, chunk vectors and sentence vectors, BM25, save) against fp32
                # sentence-transformers encoding the chunks alone
                build["build_speedup_vs_fp32_encoding"] = round(build["chunks_per_s"] / fp32["chunks_per_s"], 2)
    emit(report, args.out, summary(report))
    return 0


def summary(report: dict) -> str:
    parts = [f"{report['encoded_chunks']} chunks:"]
    for r in report["backends"]:
        if "error" in r:
            parts.append(f"{r['backend']} failed")
            continue
        extra = f" ({r['speedup_vs_fp32']}x wall, {r['cpu_speedup_vs_fp32']}x cpu, cos min {r['cosine_to_fp32']['min']})" \
            if "speedup_vs_fp32" in r else ""
        parts.append(f"{r['backend']} {r['chunks_per_s']}/s{extra}")
    if "build" in report:
        b = report["build"]
        parts.append(f"| build {b['build_s']}s, unchanged re-index {b['reindex_unchanged_s']}s, add one "
                     f"{b['add_one_bulletin_s']}s (as a file {b['add_one_file_s']}s), "
                     f"{b['index_mb_per_10k_chunks']} MB/10k chunks, "
                     f"HNSW recall@10 {b['hnsw_recall_at_10']}")
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
