"""What checksums cost at start-up: load an index with and without verifying them. By default a
synthetic index the size of full Reuters-21578 (22,574 bulletins, 33,315 chunks, 153,425 sentences:
about 300 MB; no model needed: the vectors are random, the records plain text); with ``--index``, a
real one built by ``rag index``.

    .venv/bin/python -m bench.checksums [--chunks 33315] [--runs 3]
    .venv/bin/python -m bench.checksums --index /path/to/reuters-index --runs 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from rag.config import Settings
from rag.index import integrity, store
from rag.index.corpus_index import Index, StoredIndex
from rag.index.manifest import Manifest, Recipe
from rag.records import Bulletin, Chunk, Sentence


def synthetic(chunks: int, dim: int = 384) -> StoredIndex:
    rng = np.random.default_rng(0)
    bulletins_n, sentences_per_chunk = max(1, int(chunks * 0.678)), 4.6
    sentences_n = int(chunks * sentences_per_chunk)
    text = "The central bank said on Tuesday that it would keep rates unchanged this quarter. " * 2
    bulletins = [Bulletin(f"b{i}", f"Headline number {i}", f"seeds/reut2-{i % 22:03d}.sgm", 0, 900, None)
                 for i in range(bulletins_n)]
    sentences = [Sentence(f"b{i % bulletins_n}", 0, len(text), text) for i in range(sentences_n)]
    per = sentences_n // chunks
    chunk_records = [Chunk(i, f"b{i % bulletins_n}", 0, 900, text * 5, tuple(range(i * per, i * per + per)))
                     for i in range(chunks)]
    vectors = rng.standard_normal((chunks, dim)).astype(np.float32)
    manifest = Manifest(recipe=Recipe.of(Settings()), corpus=None, files=22, dimension=dim, backend=None,
                        index_type="IndexHNSWFlat", bulletins=bulletins_n, chunks=chunks, sentences=sentences_n,
                        embedded=chunks)
    return StoredIndex(manifest, bulletins, chunk_records, sentences, vectors,
                             rng.standard_normal((sentences_n, dim)).astype(np.float16),
                             [f"{i:040x}" for i in range(chunks)], [f"{i:040x}" for i in range(sentences_n)],
                             {f"seeds/reut2-{i:03d}.sgm": "0" * 40 for i in range(22)},
                             [" ".join(["bank", "rate", "quarter"] * 40)] * chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=33_315)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--index", type=Path, help="a real index folder (default: a synthetic one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.index:
            index = args.index
            if store.current_generation(index) is None:
                raise SystemExit(f"bench.checksums: no index in {index}")
        else:
            index = Path(folder)
            stored = synthetic(args.chunks)
            store.save(index, Index(stored, store.build_vector_index(stored.chunk_vectors, 50_000)))
        size = sum(p.stat().st_size for p in store.current_generation(index).rglob("*") if p.is_file())
        unchecked = integrity.VerifiedReader.read

        def read_unchecked(self, name):  # what load costs without the digests
            return (self.folder / name).read_bytes()

        timings: dict[str, list[float]] = {"with_checksums_s": [], "without_checksums_s": []}
        for _ in range(args.runs):
            for key, reader in (("with_checksums_s", unchecked), ("without_checksums_s", read_unchecked)):
                with mock.patch.object(integrity.VerifiedReader, "read", reader):
                    started = time.perf_counter()
                    store.load(index)
                    timings[key].append(round(time.perf_counter() - started, 3))
        chunks = store.load(index).records.manifest.chunks if args.index else args.chunks
        result = {"index": "real" if args.index else "synthetic", "chunks": chunks, "index_mb": round(size / 1e6, 1),
                  **{k: min(v) for k, v in timings.items()}, "runs": timings}
        print(json.dumps(result))
        print(f"store.load of {result['index_mb']} MB: {result['with_checksums_s']} s with checksums, "
              f"{result['without_checksums_s']} s without (best of {args.runs})")


if __name__ == "__main__":
    main()
