"""Split corpus files into bulletins, sentences and token chunks, with offsets into the files.

Sentence splitting (pysbd) is most of the cost of splitting: about 100 Reuters stories a second on
one core. Files already split in the previous index (same text, same chunking) take their split
from it; a large number of files to split is shared among one process per core.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from rag.config import Settings, available_cores
from rag.index.corpus_index import StoredIndex
from rag.index.plan import splits_reusable
from rag.ingest.bulletins import body_range, split_bulletins
from rag.ingest.chunks import chunk_sentences, count_tokens
from rag.ingest.files import SourceFile, file_hash
from rag.records import Bulletin, Chunk, Sentence
from rag.text import split_sentences

log = logging.getLogger(__name__)
# Below this many files to split, one process does it: starting workers costs about a second.
PARALLEL_MIN_FILES = 400
Progress = Callable[[str, int, int], None]
Split = tuple[list[Bulletin], list[Sentence], list[Chunk]]
# Splits ``files`` elsewhere (rag/cluster: Ray Data tasks): ``split_file`` of each, in order.
SplitMany = Callable[[list[SourceFile], Settings, Progress | None], Iterator[Split]]


def split_corpus(files: list[SourceFile], settings: Settings, previous: StoredIndex | None = None,
                 progress: Progress | None = None, workers: int = 0, split_many: SplitMany | None = None) -> Split:
    """Bulletins, their sentences and their chunks, all with offsets into the original files.

    Files whose text is unchanged since ``previous`` (built with the same chunking) take their
    split from it instead of being split again: sentence splitting is most of the cost of adding
    one bulletin to a large corpus. The rest are split on ``workers`` processes (default: one
    per core) when there are at least ``PARALLEL_MIN_FILES`` of them, or by ``split_many``.
    """
    reusable = _previous_splits(previous, settings) if previous is not None else {}
    reused = {f.source for f in files if _reusable(reusable.get(f.source), f)}  # one hash per file
    fresh = [f for f in files if f.source not in reused]
    splits = iter(split_many(fresh, settings, progress)) if split_many is not None else _split_files(
        fresh, settings, workers or settings.index_threads or available_cores(), progress)
    bulletins: list[Bulletin] = []
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for f in files:
        if f.source in reused:
            _, part_bulletins, part_sentences, part_chunks, first = reusable[f.source]
        else:
            (part_bulletins, part_sentences, part_chunks), first = next(splits), 0
        chunks.extend(renumbered(part_chunks, len(chunks), len(sentences) - first))
        bulletins.extend(part_bulletins)
        sentences.extend(part_sentences)
    getattr(splits, "close", lambda: None)()  # shuts the process pool down
    if progress:
        progress("splitting", len(fresh), len(fresh))
    return bulletins, sentences, chunks


def _reusable(old: tuple | None, f: SourceFile) -> bool:
    return old is not None and old[0] == file_hash(f)


def _split_files(files: list[SourceFile], settings: Settings, workers: int, progress: Progress | None):
    """``split_file`` of each file, in order; on a process pool for many files."""
    def report(done: int) -> None:
        if progress and done % 100 == 0:
            progress("splitting", done, len(files))

    if workers <= 1 or len(files) < PARALLEL_MIN_FILES:
        for done, f in enumerate(files):
            report(done)
            yield split_file(f, settings)
        return
    # forkserver: a clean process to fork from, not a copy of one running model threads
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        batch = max(1, min(64, len(files) // (workers * 8)))
        for done, split in enumerate(pool.map(split_file, files, [settings] * len(files), chunksize=batch)):
            report(done)
            yield split


def split_file(f: SourceFile, settings: Settings) -> Split:
    """The bulletins, sentences and chunks of one file; chunks and sentence indexes numbered from 0."""
    bulletins: list[Bulletin] = []
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for bulletin in split_bulletins(f.text, f.source, fallback_title=f.title or _title_from_path(f.path), single=f.single,
                                    year=settings.default_year or None):
        bulletins.append(bulletin)
        start, end = body_range(f.text, bulletin)
        first = len(sentences)
        for s, e in split_sentences(f.text, start, end):
            sentences.append(Sentence(bulletin.id, s, e, f.text[s:e]))
        ids = list(range(first, len(sentences)))
        if not ids:  # a headline with no body: index the headline itself
            s, e = bulletin.char_start, bulletin.char_end
            sentences.append(Sentence(bulletin.id, s, e, f.text[s:e]))
            ids = [first]
        counts = count_tokens([sentences[i].text for i in ids])
        for a, b in chunk_sentences(counts, settings.chunk_tokens, settings.chunk_overlap):
            s, e = sentences[ids[a]].char_start, sentences[ids[b - 1]].char_end
            chunks.append(Chunk(len(chunks), bulletin.id, s, e, f.text[s:e], tuple(ids[a:b])))
    return bulletins, sentences, chunks


def renumbered(chunks: list[Chunk], first_chunk: int, sentence_shift: int) -> list[Chunk]:
    """``chunks`` numbered from ``first_chunk``, their sentence indexes moved by ``sentence_shift``."""
    return [replace(c, id=first_chunk + n, sentence_ids=tuple(i + sentence_shift for i in c.sentence_ids))
            for n, c in enumerate(chunks)]


def _previous_splits(previous: StoredIndex, settings: Settings) -> dict[str, tuple]:
    """Per source file of ``previous``: (text hash, bulletins, sentences, chunks, first sentence index)."""
    if not splits_reusable(previous.manifest, settings) or not previous.file_hashes:
        return {}
    source_of = {b.id: b.source for b in previous.bulletins}
    splits: dict[str, tuple] = {}

    def ranges(items, key):
        found: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            span = found.setdefault(source_of[key(item)], [i, i + 1])
            span[1] = i + 1
        return found

    b_ranges = ranges(previous.bulletins, lambda b: b.id)
    s_ranges = ranges(previous.sentences, lambda s: s.bulletin_id)
    c_ranges = ranges(previous.chunks, lambda c: c.bulletin_id)
    for source, digest in previous.file_hashes.items():
        if source not in b_ranges or source not in s_ranges:
            continue
        (b0, b1), (s0, s1) = b_ranges[source], s_ranges[source]
        c0, c1 = c_ranges.get(source, (0, 0))
        splits[source] = (digest, previous.bulletins[b0:b1], previous.sentences[s0:s1], previous.chunks[c0:c1], s0)
    return splits


def _title_from_path(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
