"""Every kind of index damage of the attack run is detected, logged and rebuilt, and the rebuilt
index answers as an undamaged one does; a rebuild never reuses what failed a check."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import IndexStateError
from rag.fileio import write_bulletin
from rag.index import store
from rag.index.integrity import digest
from rag.index.plan import Append, Reason, describe
from rag.service.lifecycle import open_engine

FACTS = [
    ("Harbin Opens Ice Battery Plant", "On January 9, 2024, Harbin opened a plant that stores power as ice. "
     "The plant holds 40 megawatt-hours. It cools a district of 8,000 homes."),
    ("Lhasa Solar Farm Doubles", "On February 14, 2024, the Lhasa solar farm doubled to 600 megawatts. "
     "Its panels sit at 3,650 metres. Tibet Power runs it."),
    ("Qingdao Ferries Go Electric", "On March 3, 2024, Qingdao put 12 electric ferries into service. "
     "Each ferry carries 300 passengers. The batteries charge in 20 minutes."),
    ("Kunming Bans Coal Boilers", "On April 21, 2024, Kunming banned coal boilers in its centre. "
     "The ban covers 1,200 boilers. Owners receive a subsidy of 30,000 yuan each."),
    ("Urumqi Wind Corridor Approved", "On May 5, 2024, planners approved a wind corridor north of Urumqi. "
     "It will hold 900 turbines. Construction starts in the autumn."),
    ("Xiamen Port Buys Hydrogen Trucks", "On June 18, 2024, Xiamen port bought 75 hydrogen trucks. "
     "They replace diesel trucks on the quay. Refuelling takes eight minutes."),
]
ADDED = ("Dalian Tidal Station Starts", "On July 2, 2024, a tidal station started near Dalian. "
         "It produces 12 megawatts. Fishermen helped choose the site.")
QUESTIONS = ["How many megawatt-hours does the Harbin plant hold?", "How many passengers does each ferry carry?",
             "What subsidy do boiler owners in Kunming receive?", "How long does refuelling take at Xiamen port?",
             "How much does the tidal station near Dalian produce?", "Who runs the Lhasa solar farm?"]


def answers(engine):
    return [(a.answer, [(c.source, c.char_start, c.char_end) for c in a.citations])
            for a in (engine.ask(q) for q in QUESTIONS)]


@pytest.fixture(scope="module")
def good(tmp_path_factory, embedder):
    """A small corpus of its own, indexed as a base plus one appended segment, and its answers."""
    root = tmp_path_factory.mktemp("integrity")
    seeds = root / "seeds"
    seeds.mkdir()
    for n, (title, text) in enumerate(FACTS):
        write_bulletin(seeds / f"bulletin-{n:02d}.txt", title, text)
    settings = Settings(seeds=seeds, index=root / "index")
    open_engine(settings, embedder)
    write_bulletin(seeds / f"bulletin-{len(FACTS):02d}.txt", *ADDED)
    engine, report = open_engine(settings, embedder)
    assert isinstance(report.plan, Append) and engine.index.manifest.segments == ("0001",)
    return root, answers(engine)


@pytest.fixture
def damaged(good, tmp_path):
    """A private copy of the good corpus and index, and its settings."""
    root, _ = good
    shutil.copytree(root, tmp_path / "copy")
    copy = tmp_path / "copy"
    return Settings(seeds=copy / "seeds", index=copy / "index")


def generation(settings):
    return store.current_generation(settings.index)


def garbage_same_size(path, keep=0):
    data = path.read_bytes()
    path.write_bytes(data[:keep] + np.random.default_rng(7).bytes(len(data) - keep))


def rewrite_records(gen, name, change):
    """Change a records file and fix its checksum: damage that checksums cannot see."""
    path = gen / name
    records = json.loads(path.read_text(encoding="utf-8"))
    change(records)
    data = json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path.write_bytes(data)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    manifest["checksums"][name] = digest(data)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def shift_offsets(records):
    for s in records["sentences"]:
        s["char_start"] += 3
        s["char_end"] += 3


def rewrite_file(gen, name, data: bytes):
    (gen / name).unlink()  # files may be hard links shared with nothing else, but never rewrite in place
    (gen / name).write_bytes(data)


DAMAGE = {
    "truncated FAISS file": lambda g: rewrite_file(g, "vectors.faiss", (g / "vectors.faiss").read_bytes()[:100]),
    "same-size garbage in the FAISS file": lambda g: garbage_same_size(g / "vectors.faiss", keep=64),
    "same-size garbage in the chunk vectors": lambda g: garbage_same_size(g / "chunk_vectors.npy", keep=128),
    "same-size garbage in the sentence vectors": lambda g: garbage_same_size(g / "sentence_vectors.npy", keep=128),
    "two titles swapped in the records": lambda g: rewrite_file(g, "records.json", _swapped_same_size(g)),
    "shifted offsets": lambda g: rewrite_file(g, "records.json", (g / "records.json").read_bytes().replace(
        b'"char_start":', b'"char_start":1', 1)),
    "records not an object": lambda g: rewrite_file(g, "records.json", b"[1, 2, 3]"),
    "missing records": lambda g: (g / "records.json").unlink(),
    "bad CURRENT": lambda g: (g.parent / "CURRENT").write_bytes(b"\xff\xfe"),
    "CURRENT leaving the folder": lambda g: (g.parent / "CURRENT").write_bytes(b"gen-../../etc"),
    "manifest a list": lambda g: (g / "manifest.json").write_text("[]"),
    "manifest cut short": lambda g: (g / "manifest.json").write_text('{"format": 2, "checks'),
    "manifest without checksums": lambda g: (g / "manifest.json").write_text(json.dumps(
        {k: v for k, v in json.loads((g / "manifest.json").read_text()).items() if k != "checksums"})),
    "manifest of the old format": lambda g: (g / "manifest.json").write_text(json.dumps(
        {**json.loads((g / "manifest.json").read_text()), "format": 1})),
    "segment records garbage": lambda g: garbage_same_size(g / "segments" / "0001" / "records.json"),
    "segment vectors garbage": lambda g: garbage_same_size(g / "segments" / "0001" / "chunk_vectors.npy", keep=128),
    "segment missing": lambda g: shutil.rmtree(g / "segments" / "0001"),
    "segment list not a list": lambda g: (g / "manifest.json").write_text(json.dumps(
        {**json.loads((g / "manifest.json").read_text()), "segments": "0001"})),
    "shifted offsets with a fixed checksum": lambda g: rewrite_records(g, "records.json", shift_offsets),
}


def _swapped_same_size(gen) -> bytes:
    """Two headlines of the records exchanged, the file's size unchanged."""
    data = (gen / "records.json").read_bytes()
    first, second = (t.encode() for t, _ in FACTS[:2])
    return data.replace(first, b"\0").replace(second, first).replace(b"\0", second)


@pytest.mark.parametrize("kind", DAMAGE)
def test_damage_is_detected_logged_and_rebuilt_with_the_same_answers(good, damaged, embedder, kind, caplog):
    _, expected = good
    DAMAGE[kind](generation(damaged) if kind not in ("bad CURRENT", "CURRENT leaving the folder")
                 else store.current_generation(damaged.index))
    with caplog.at_level(logging.WARNING, logger="rag"):
        engine, report = open_engine(damaged, embedder)
    assert report.rebuilt, kind
    assert report.plan.reason is Reason.BROKEN or "failed a check" in caplog.text, describe(report.plan)
    assert any(r.levelno >= logging.WARNING for r in caplog.records)  # logged with the file and the reason
    assert answers(engine) == expected
    store.load(damaged.index)  # what was written is whole


def test_a_checksum_mismatch_names_the_file_and_the_reason(damaged):
    garbage_same_size(generation(damaged) / "sentence_vectors.npy", keep=128)
    with pytest.raises(IndexStateError, match=r"sentence_vectors\.npy: checksum mismatch"):
        store.load(damaged.index)


def test_bad_records_with_a_changed_corpus_rebuild_from_scratch(good, damaged, embedder):
    """The stale path (a new file) must not reuse splits whose offsets are wrong: it rebuilds."""
    _, expected = good
    rewrite_records(generation(damaged), "records.json", shift_offsets)
    write_bulletin(damaged.seeds / "bulletin-99.txt", "Nanning Metro Line Opens",
                   "On August 8, 2024, Nanning opened metro line 6.")
    engine, report = open_engine(damaged, embedder)
    assert report.rebuilt
    assert answers(engine) == expected


def test_rebuild_reembeds_everything_unless_told_to_reuse(good, damaged, embedder):
    """Vectors damaged in a way no check sees (checksum fixed) are not reused by a rebuild."""
    _, expected = good
    gen = generation(damaged)
    vectors = np.load(gen / "chunk_vectors.npy")
    vectors[:] = vectors[::-1].copy()  # every chunk gets another chunk's vector
    buffer = store._npy(vectors)
    rewrite_file(gen, "chunk_vectors.npy", buffer)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["checksums"]["chunk_vectors.npy"] = digest(buffer)
    (gen / "manifest.json").write_text(json.dumps(manifest))
    reused, _ = open_engine(damaged, embedder, rebuild=True, reuse=True)
    assert reused.index.manifest.embedded == 0
    engine, report = open_engine(damaged, embedder, rebuild=True)
    assert report.rebuilt and engine.index.manifest.embedded == len(engine.index.chunks)
    assert answers(engine) == expected


def test_every_file_of_a_generation_has_a_checksum(damaged):
    gen = generation(damaged)
    manifest = json.loads((gen / "manifest.json").read_text())
    files = {p.relative_to(gen).as_posix() for p in gen.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(manifest["checksums"]) == files
    assert all(manifest["checksums"][f] == digest((gen / f).read_bytes()) for f in files)
    assert os.path.exists(gen / "segments" / "0001" / "records.json")
