"""Index persistence: staleness, rebuild, atomic generations, broken files."""

import pytest

from rag import store
from rag.config import Settings
from rag.engine import Engine
from rag.errors import IndexStateError


def test_fresh_index_is_built_then_loaded_without_rebuild(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    _, first = Engine.open(settings, embedder)
    assert first.rebuilt and first.reason == "there is no index yet"
    engine, second = Engine.open(settings, embedder)
    assert not second.rebuilt
    assert engine.stored.manifest["bulletins"] == 5


def test_changed_seeds_or_settings_make_the_index_stale(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    Engine.open(settings, embedder)
    (corpus_copy / "extra.txt").write_text("Wind Farm Opens\n\nOn May 2, 2024, a wind farm opened in Gansu.\n")
    engine, report = Engine.open(settings, embedder)
    assert report.rebuilt and report.reason == "the bulletins changed"
    assert engine.stored.manifest["bulletins"] == 6
    # only the new bulletin was embedded: the rest came from the cache
    assert 1 <= engine.stored.manifest["embedded"] <= 2  # its chunk and its sentence (identical here)
    _, report = Engine.open(settings.with_(chunk_tokens=100), embedder)
    assert report.rebuilt and report.reason == "the chunk size changed"


def test_interrupted_build_leaves_the_previous_index_usable(tmp_path, corpus_copy, embedder, monkeypatch):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    engine, _ = Engine.open(settings, embedder)
    before = store.current_generation(settings.index)
    (corpus_copy / "extra.txt").write_text("Wind Farm Opens\n\nOn May 2, 2024, a wind farm opened in Gansu.\n")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(store, "write_json_atomic", crash)  # dies after the vectors are written
    with pytest.raises(KeyboardInterrupt):
        Engine.open(settings, embedder)
    monkeypatch.undo()
    assert store.current_generation(settings.index) == before
    stored, _ = store.load(settings.index)
    assert stored.manifest["bulletins"] == 5  # the previous good index, whole


def test_broken_index_is_detected_and_rebuilt(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    Engine.open(settings, embedder)
    generation = store.current_generation(settings.index)
    (generation / "vectors.faiss").write_bytes(b"truncated")
    with pytest.raises(IndexStateError):
        store.load(settings.index)
    engine, report = Engine.open(settings, embedder)
    assert report.rebuilt and "broken" in report.reason
    assert engine.ask("Where did the IPCC release its Synthesis Report?").citations


def test_unwritable_index_folder_is_a_clear_error(tmp_path, corpus_copy, embedder):
    blocker = tmp_path / "index"
    blocker.write_text("not a folder")
    with pytest.raises(IndexStateError, match="cannot write the index"):
        Engine.open(Settings(seeds=corpus_copy, index=blocker), embedder)
