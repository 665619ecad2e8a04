"""plan(): load, append or build (and why), decided from the manifest, the files and the settings alone."""

from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.config import Settings
from rag.index import plan as plan_module
from rag.index.corpus_index import Index, StoredIndex
from rag.index.manifest import Broken, Manifest, Recipe
from rag.index.plan import Append, Build, Load, Reason, describe, plan
from rag.ingest.files import SourceFile, file_hash, fingerprint_hashes
from rag.records import Chunk

DIM, BACKEND = 8, "fp32"
SETTINGS = Settings(seeds=Path("seeds"), index=Path("index"))


def source(name: str, text: str = "Headline\n\nA body.\n") -> SourceFile:
    return SourceFile(f"seeds/{name}", Path(name), text)


FILES = [source("a.txt"), source("b.txt", "Other\n\nAnother body.\n")]


def index_of(files, settings=SETTINGS, *, chunks=2, vectors=None, **manifest) -> Index:
    """An index built from ``files`` with ``settings`` (records reduced to what plan() reads)."""
    hashes = {f.source: file_hash(f) for f in files}
    m = Manifest(recipe=Recipe.of(settings), corpus=fingerprint_hashes(hashes), files=len(hashes), dimension=DIM,
                 backend=BACKEND, index_type="IndexFlatIP", bulletins=len(files), chunks=chunks, sentences=chunks,
                 embedded=chunks)
    records = StoredIndex(m.with_(**manifest), [], [Chunk(i, "b", 0, 1, "x", ()) for i in range(chunks)], [],
                          np.zeros((chunks, DIM), np.float32), np.zeros((chunks, DIM), np.float16), [], [], hashes)
    return Index(records, faiss.IndexFlatIP(DIM) if vectors is None else vectors)


def planned(current, files=FILES, settings=SETTINGS, **options):
    return plan(settings, files, current, dimension=options.pop("dimension", DIM),
                backend=options.pop("backend", BACKEND), **options)


def test_an_index_that_serves_the_corpus_is_loaded():
    current = index_of(FILES)
    assert planned(current) == Load(current)


def test_no_index_is_built():
    assert planned(None) == Build(Reason.NO_INDEX)


def test_a_broken_index_is_built_anew_saying_why_even_when_a_rebuild_was_asked_for():
    for rebuild in (False, True):
        chosen = planned(Broken("records.json: checksum mismatch"), rebuild=rebuild)
        assert chosen == Build(Reason.BROKEN, None, "records.json: checksum mismatch")


def test_a_requested_rebuild_reuses_the_index_only_when_told_to():
    current = index_of(FILES)
    assert planned(current, rebuild=True) == Build(Reason.REBUILD_REQUESTED, None)
    assert planned(current, rebuild=True, reuse=True) == Build(Reason.REBUILD_REQUESTED, current)
    assert planned(None, rebuild=True) == Build(Reason.REBUILD_REQUESTED, None)


def test_new_files_are_appended():
    current = index_of(FILES[:1])
    chosen = planned(current)
    assert chosen == Append(current, (FILES[1],))
    assert describe(chosen) == "the bulletins changed: 1 new file appended"


@pytest.mark.parametrize("files", [[FILES[0]], [FILES[0], source("b.txt", "Changed\n\nNew body.\n")]],
                         ids=["a file removed", "a file changed"])
def test_removed_or_changed_files_mean_a_build_reusing_the_index(files):
    current = index_of(FILES)
    assert planned(current, files) == Build(Reason.BULLETINS_CHANGED, current)


def test_new_files_are_built_in_when_the_segments_are_too_many_or_too_large(monkeypatch):
    new = [*FILES, source("c.txt")]
    assert isinstance(planned(index_of(FILES, segments=("0001",), base_chunks=1), new), Append)
    monkeypatch.setattr(plan_module, "MAX_SEGMENTS", 1)
    assert planned(index_of(FILES, segments=("0001",), base_chunks=1), new).reason is Reason.BULLETINS_CHANGED
    monkeypatch.undo()
    big = index_of(FILES, chunks=30_000, base_chunks=2_000, segments=("0001",))  # 28,000 chunks in segments
    assert planned(big, new, SETTINGS.with_(hnsw_threshold=10**9)).reason is Reason.BULLETINS_CHANGED


def test_an_exact_index_about_to_pass_the_hnsw_threshold_is_built_again():
    new = [*FILES, source("c.txt")]
    near = SETTINGS.with_(hnsw_threshold=40)
    assert planned(index_of(FILES, near), new, near).reason is Reason.BULLETINS_CHANGED
    hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    assert isinstance(planned(index_of(FILES, near, vectors=hnsw), new, near), Append)


@pytest.mark.parametrize("changes, reason", [
    ({"model": "multilingual-e5-small"}, Reason.MODEL_CHANGED),
    ({"chunk_tokens": 100}, Reason.CHUNK_SIZE_CHANGED),
    ({"chunk_overlap": 10}, Reason.CHUNK_OVERLAP_CHANGED),
    ({"default_year": 2023}, Reason.DEFAULT_YEAR_CHANGED),
])
def test_a_changed_setting_means_a_build_reusing_the_index(changes, reason):
    current = index_of(FILES)
    assert planned(current, settings=SETTINGS.with_(**changes)) == Build(reason, current)


def test_new_indexing_code_means_a_build():
    current = index_of(FILES, recipe=replace(Recipe.of(SETTINGS), pipeline=1))
    assert planned(current) == Build(Reason.PIPELINE_CHANGED, current)


def test_another_embedder_means_a_build():
    current = index_of(FILES)
    assert planned(current, dimension=DIM * 2).reason is Reason.DIMENSION_CHANGED
    assert planned(current, backend="onnx-int8").reason is Reason.BACKEND_CHANGED
    unknown = index_of(FILES, backend=None)  # written before backends were recorded: taken as the same
    assert planned(unknown, backend="onnx-int8") == Load(unknown)


def test_new_files_with_another_setting_are_built_not_appended():
    chosen = planned(index_of(FILES[:1]), settings=SETTINGS.with_(chunk_tokens=100))
    assert chosen.reason is Reason.BULLETINS_CHANGED and chosen.previous is not None
    assert planned(index_of(FILES[:1]), backend="onnx-int8").reason is Reason.BULLETINS_CHANGED


def test_every_reason_has_words_for_people():
    texts = {describe(Build(reason)) for reason in Reason}
    assert len(texts) == len(Reason) and all(texts)
    assert describe(Build(Reason.BROKEN, detail="CURRENT names a missing generation")) == \
        "the index is broken (CURRENT names a missing generation)"
    assert describe(Build(Reason.BULLETINS_CHANGED, detail="records no longer match")) == \
        "the bulletins changed; records no longer match"
