"""Index persistence: staleness, rebuild, atomic generations, broken files."""

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import IndexStateError
from rag.index import store
from rag.index.build import chunk_embedding_text, split_corpus
from rag.index.plan import Append, Reason
from rag.search.bm25 import LexicalIndex, terms
from rag.service.lifecycle import open_engine, read_sources


def test_fresh_index_is_built_then_loaded_without_rebuild(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    _, first = open_engine(settings, embedder)
    assert first.rebuilt and first.plan.reason is Reason.NO_INDEX
    engine, second = open_engine(settings, embedder)
    assert not second.rebuilt
    assert engine.index.manifest.bulletins == 5


def test_changed_seeds_or_settings_make_the_index_stale(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    (corpus_copy / "extra.txt").write_text("Wind Farm Opens\n\nOn May 2, 2024, a wind farm opened in Gansu.\n")
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt and isinstance(report.plan, Append)
    assert engine.index.manifest.bulletins == 6
    # only the new bulletin was embedded: the rest came from the cache
    assert 1 <= engine.index.manifest.embedded <= 2  # its chunk and its sentence (identical here)
    _, report = open_engine(settings.with_(chunk_tokens=100), embedder)
    assert report.rebuilt and report.plan.reason is Reason.CHUNK_SIZE_CHANGED


def test_interrupted_build_leaves_the_previous_index_usable(tmp_path, corpus_copy, embedder, monkeypatch):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    engine, _ = open_engine(settings, embedder)
    before = store.current_generation(settings.index)
    (corpus_copy / "extra.txt").write_text("Wind Farm Opens\n\nOn May 2, 2024, a wind farm opened in Gansu.\n")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(store, "write_manifest", crash)  # dies after the vectors are written
    with pytest.raises(KeyboardInterrupt):
        open_engine(settings, embedder)
    monkeypatch.undo()
    assert store.current_generation(settings.index) == before
    stored = store.load(settings.index)
    assert stored.manifest.bulletins == 5  # the previous good index, whole


def test_broken_index_is_detected_and_rebuilt(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    generation = store.current_generation(settings.index)
    (generation / "vectors.faiss").write_bytes(b"truncated")
    with pytest.raises(IndexStateError):
        store.load(settings.index)
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt and report.plan.reason is Reason.BROKEN
    assert engine.ask("Where did the IPCC release its Synthesis Report?").citations


def test_unwritable_index_folder_is_a_clear_error(tmp_path, corpus_copy, embedder):
    blocker = tmp_path / "index"
    blocker.write_text("not a folder")
    with pytest.raises(IndexStateError, match="cannot write the index"):
        open_engine(Settings(seeds=corpus_copy, index=blocker), embedder)


def test_unchanged_corpus_reembeds_nothing(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    first, _ = open_engine(settings, embedder)
    assert first.index.manifest.embedded > 0
    again, report = open_engine(settings, embedder, rebuild=True, reuse=True)
    assert report.rebuilt and again.index.manifest.embedded == 0
    assert np.array_equal(again.index.chunk_vectors, first.index.chunk_vectors)


def test_vector_index_is_exact_below_the_threshold_and_hnsw_at_it():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = store.build_vector_index(vectors, hnsw_threshold=len(vectors) + 1)
    approximate = store.build_vector_index(vectors, hnsw_threshold=len(vectors))
    assert type(exact).__name__ == "IndexFlatIP"
    assert type(approximate).__name__ == "IndexHNSWFlat"
    queries = vectors[:200] + 0.3 * rng.standard_normal((200, 64)).astype(np.float32)
    _, truth = exact.search(queries, 10)
    _, found = approximate.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.98


def _rewrite_json(path, change):
    """Change an index file and fix its checksum: the checks behind the checksums must hold too."""
    import json

    from rag.index.integrity import digest

    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    if path.name != "manifest.json":
        manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
        manifest["checksums"][path.name] = digest(path.read_bytes())
        (path.parent / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_manifest_from_another_model_triggers_a_rebuild(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    _rewrite_json(store.current_generation(settings.index) / "manifest.json",
                  lambda m: m.update(model="some-other-model"))
    _, report = open_engine(settings, embedder)
    assert report.rebuilt and report.plan.reason is Reason.MODEL_CHANGED


def test_chunk_records_that_do_not_match_the_vectors_are_rebuilt(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    _rewrite_json(store.current_generation(settings.index) / "records.json",
                  lambda r: r["chunks"].pop())
    with pytest.raises(IndexStateError, match="does not match the chunk records"):
        store.load(settings.index)
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt and report.plan.reason is Reason.BROKEN
    assert len(engine.index.chunks) == engine.index.vectors.ntotal


def test_missing_generation_named_by_current_is_rebuilt(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    (settings.index / "CURRENT").write_text("gen-that-does-not-exist")
    _, report = open_engine(settings, embedder)
    assert report.rebuilt and report.plan.reason is Reason.BROKEN and "missing generation" in report.plan.detail


def test_adding_a_file_reuses_the_split_of_the_others_and_matches_a_fresh_split(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    (corpus_copy / "a-first.txt").write_text("Wind Farm Opens\n\nOn May 2, 2024, a wind farm opened in Gansu. "
                                             "It powers 300,000 homes.\n")
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt  # appended: the same records as a fresh split, the new file's last
    fresh = split_corpus(read_sources(settings), settings)
    where = lambda records: sorted((r.bulletin_id, r.char_start, r.text) for r in records)  # noqa: E731
    assert sorted(engine.index.bulletins, key=lambda b: b.source) == sorted(fresh[0], key=lambda b: b.source)
    assert where(engine.index.sentences) == where(fresh[1]) and where(engine.index.chunks) == where(fresh[2])
    (corpus_copy / "a-first.txt").write_text("Wind Farm Opens\n\nOn May 2, 2024, a wind farm opened in Gansu. "
                                             "It powers 200,000 homes.\n")
    engine, report = open_engine(settings, embedder)  # a changed file: a full build reusing the seeds' split
    assert report.plan.reason is Reason.BULLETINS_CHANGED
    fresh = split_corpus(read_sources(settings), settings)
    assert (engine.index.bulletins, engine.index.sentences, engine.index.chunks) == fresh
    assert engine.ask("Where did the wind farm open?").citations


def test_saved_bm25_terms_are_the_chunk_terms(engine, settings):
    stored = store.load(settings.index).records
    titles = {b.id: b.title for b in stored.bulletins}
    fresh = [" ".join(terms(chunk_embedding_text(titles[c.bulletin_id], c.text))) for c in stored.chunks]
    assert stored.chunk_terms == fresh
    question = "Where did the IPCC release its Synthesis Report?"
    rebuilt = LexicalIndex([chunk_embedding_text(titles[c.bulletin_id], c.text) for c in stored.chunks])
    assert np.allclose(engine.index.lexical.scores(question), rebuilt.scores(question))


def test_records_whose_offsets_no_longer_slice_back_are_rebuilt(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)

    def shift(records):
        for sentence in records["sentences"]:
            sentence["char_start"] += 1  # the manifest still matches the corpus: only the offsets lie

    _rewrite_json(store.current_generation(settings.index) / "records.json", shift)
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt and report.plan.reason is Reason.BROKEN and "no longer match" in report.plan.detail
    answer = engine.ask("Where did the IPCC release its Synthesis Report?")
    assert all(engine.files[c.source].text[c.char_start:c.char_end] == c.quote for c in answer.citations)


def test_sentences_past_the_model_window_are_embedded_on_their_own(tmp_path, embedder):
    """With passages longer than the model reads, later sentences get no token states to pool."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    body = " ".join(f"Province number {n} reported {n * 7} new solar farms in {2000 + n}." for n in range(60))
    (seeds / "long.txt").write_text(f"Solar Farms By Province\n\n{body}\n", encoding="utf-8")
    settings = Settings(seeds=seeds, index=tmp_path / "index", chunk_tokens=2000, chunk_overlap=0)
    engine, _ = open_engine(settings, embedder)
    stored = engine.index
    assert len(stored.chunks) == 1 and len(stored.sentences) == 60
    assert not np.isnan(stored.sentence_vectors.astype(np.float32)).any()
    last = stored.sentences[-1]
    alone = embedder.encode([chunk_embedding_text("Solar Farms By Province", last.text)])[0]
    assert float(stored.sentence_vectors[-1].astype(np.float32) @ alone) > 0.99  # int8 batches differ a little with padding
    first = embedder.encode([chunk_embedding_text("Solar Farms By Province", stored.sentences[0].text)])[0]
    assert float(stored.sentence_vectors[0].astype(np.float32) @ first) < 0.95  # pooled from the passage
