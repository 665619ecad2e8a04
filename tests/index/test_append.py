"""Adding a bulletin appends a segment to the index instead of rebuilding it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.fileio import write_bulletin
from rag.index import plan, store
from rag.index.plan import Append, Reason, describe
from rag.service.lifecycle import open_engine
from rag.service.live import LiveIndex

pytestmark = pytest.mark.slow

WIND = ("Wind Farm Opens In Gansu", "On May 2, 2024, a 500-megawatt wind farm opened in Jiuquan, Gansu. "
        "It will supply power to 300,000 homes.")
DAM = ("Hydropower Station Starts In Sichuan", "On June 9, 2024, the Baihetan hydropower station in Sichuan "
       "started its last unit. Its capacity is 16 gigawatts.")


@pytest.fixture
def live(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    engine, _ = open_engine(settings, embedder)
    return LiveIndex(engine), settings


def test_an_added_bulletin_is_appended_and_survives_a_restart(live, embedder):
    index, settings = live
    before = index.engine
    added = index.add(*WIND)
    engine = index.engine
    assert engine.index.manifest.segments == ("0001",)
    assert engine.index.manifest.embedded == 1  # its one chunk: nothing else was encoded
    assert len(engine.index.chunks) == len(before.index.chunks) + 1
    assert len(before.index.chunks) == before.index.manifest.chunks  # the old snapshot is untouched
    answer = engine.ask("Where did the 500-megawatt wind farm open?")
    assert "Jiuquan" in answer.answer and answer.citations[0].bulletin_id == added.id
    generation = store.current_generation(settings.index)
    assert (generation / "segments" / "0001" / "records.json").is_file()

    restarted, report = open_engine(settings, embedder)
    assert not report.rebuilt, describe(report.plan)  # the manifest says what the files on disk hold
    assert restarted.index.bulletins == engine.index.bulletins
    assert restarted.index.sentences == engine.index.sentences
    assert np.array_equal(restarted.index.sentence_vectors, engine.index.sentence_vectors)
    assert restarted.index.vectors.ntotal == len(restarted.index.chunks)
    question = "How large is the Baihetan hydropower station?"
    assert restarted.index.lexical.scores(question).tolist() == engine.index.lexical.scores(question).tolist()


def test_an_appended_index_holds_what_a_full_build_holds(live, embedder):
    index, settings = live
    index.add(*WIND)
    index.add(*DAM)
    appended = index.engine
    assert appended.index.manifest.segments == ("0001", "0002")
    full, report = open_engine(settings, embedder, rebuild=True)
    assert report.rebuilt and full.index.manifest.segments == ()
    key = lambda e: sorted((b.id, b.title, b.char_start, b.char_end) for b in e.index.bulletins)  # noqa: E731
    assert key(appended) == key(full)
    texts = lambda e: sorted(c.text for c in e.index.chunks)  # noqa: E731
    assert texts(appended) == texts(full)
    for question in ("How large is the Baihetan hydropower station?", "Who leads the expert committee?"):
        a, b = appended.ask(question), full.ask(question)
        assert [c.quote for c in a.citations] == [c.quote for c in b.citations]
        # the same BM25 scores (chunk order may differ: a full build reads the uploads folder sorted)
        assert np.allclose(np.sort(appended.index.lexical.scores(question)), np.sort(full.index.lexical.scores(question)))


def test_segments_are_folded_into_the_base_when_there_are_too_many(live, monkeypatch):
    index, settings = live
    monkeypatch.setattr(plan, "MAX_SEGMENTS", 1)
    index.add(*WIND)
    assert index.engine.index.manifest.segments == ("0001",)
    index.add(*DAM)  # a second segment is over the limit: a full build (vectors reused)
    manifest = index.engine.index.manifest
    assert manifest.segments == () and manifest.embedded == 1
    assert not (store.current_generation(settings.index) / "segments").exists()
    assert "16 gigawatts" in index.engine.ask("What is the capacity of the Baihetan station?").answer


def test_deleting_an_appended_bulletin_rebuilds_without_it(live, embedder):
    index, settings = live
    added = index.add(*WIND)
    index.delete(added.id)
    assert added.id not in index.engine.bulletins
    restarted, report = open_engine(settings, embedder)
    assert not report.rebuilt and added.id not in restarted.bulletins


def test_a_broken_segment_is_detected_and_rebuilt(live, embedder):
    index, settings = live
    index.add(*WIND)
    records = store.current_generation(settings.index) / "segments" / "0001" / "records.json"
    data = json.loads(records.read_text())
    data["chunks"] = []
    records.write_text(json.dumps(data))
    engine, report = open_engine(settings, embedder)
    assert report.rebuilt and report.plan.reason is Reason.BROKEN
    assert "segments/0001/records.json: checksum mismatch" in report.plan.detail
    assert "Jiuquan" in engine.ask("Where did the 500-megawatt wind farm open?").answer


def test_a_file_dropped_into_the_seeds_folder_is_appended(tmp_path, corpus_copy, embedder):
    settings = Settings(seeds=corpus_copy, index=tmp_path / "index")
    open_engine(settings, embedder)
    write_bulletin(corpus_copy / "wind.txt", *WIND)
    engine, report = open_engine(settings, embedder)
    assert isinstance(report.plan, Append) and len(report.plan.files) == 1
    assert describe(report.plan) == "the bulletins changed: 1 new file appended"
    assert engine.index.manifest.segments == ("0001",) and engine.index.manifest.embedded == 1
    assert "Jiuquan" in engine.ask("Where did the 500-megawatt wind farm open?").answer
    write_bulletin(corpus_copy / "wind.txt", WIND[0], "On May 3, 2024, it opened in Dunhuang.")
    engine, report = open_engine(settings, embedder)  # a changed file: a full build, the rest reused
    assert report.plan.reason is Reason.BULLETINS_CHANGED and engine.index.manifest.segments == ()
    assert "Dunhuang" in engine.ask("Where did the wind farm in Gansu open?").answer


def test_adding_the_same_bulletin_twice_keeps_one_copy(live):
    index, _ = live
    first = index.add(*WIND)
    count = len(index.engine.index.bulletins)
    again = index.add(*WIND)  # same title and text: the same file, nothing to append
    assert again.id == first.id and len(index.engine.index.bulletins) == count
    assert sum(b.source == first.source for b in index.engine.index.bulletins) == 1


def test_appending_copies_where_hard_links_are_refused(live, monkeypatch):
    index, settings = live

    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    copied = []
    real_copy = shutil.copy2
    monkeypatch.setattr("os.link", no_links)
    monkeypatch.setattr(shutil, "copy2", lambda a, b: copied.append(Path(a).name) or real_copy(a, b))
    index.add(*WIND)
    assert {"records.json", "vectors.faiss", "sentence_vectors.npy"} <= set(copied)
    assert (store.current_generation(settings.index) / "segments" / "0001" / "records.json").is_file()
    assert "Jiuquan" in index.engine.ask("Where did the 500-megawatt wind farm open?").answer


def test_an_answer_kept_in_the_cache_never_outlives_the_bulletins_it_was_given_from(live):
    """Adding or removing a bulletin swaps in a new engine, whose cache starts empty."""
    index, _ = live
    question = "Where did the 500-megawatt wind farm open?"
    before = index.engine.ask(question)
    assert "Jiuquan" not in before.answer
    assert set(index.engine.ask(question).timings_ms) == {"cache", "total"}  # kept for this generation
    added = index.add(*WIND)
    after = index.engine.ask(question)
    assert "Jiuquan" in after.answer and "cache" not in after.timings_ms
    index.delete(added.id)
    assert "Jiuquan" not in index.engine.ask(question).answer
