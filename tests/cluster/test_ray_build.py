"""`rag index --ray`: a build on a real local Ray cluster writes the generation a local build writes."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import numpy as np
import pytest

from rag.cluster.build import open_on_ray
from rag.config import Settings
from rag.index import store
from rag.index.plan import Append, Build, Reason
from rag.service.engine import Engine
from rag.service.lifecycle import open_engine

from helpers import SEED_FILE

pytestmark = pytest.mark.slow
BULLETINS = 300


def write_corpus(folder, count: int, seed: int = 0) -> None:
    """``count`` bulletin files made of the seed digest's sentences, drawn with ``random.Random(seed)``."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", SEED_FILE.read_text(encoding="utf-8"))
                 if len(s.split()) > 5]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        body = " ".join(rng.sample(sentences, rng.randint(2, 9)))
        (folder / f"bulletin-{seed}-{n:04d}.txt").write_text(f"Carbon policy bulletin {seed}-{n}\n\n{body}\n",
                                                             encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-corpus") / "seeds"
    write_corpus(folder, BULLETINS)
    return folder


@pytest.fixture(scope="module")
def local_build(corpus, embedder, tmp_path_factory):
    engine, _ = open_engine(Settings(seeds=corpus, index=tmp_path_factory.mktemp("local-index")), embedder)
    return engine


def _manifest(engine: Engine, ignore: tuple[str, ...]):
    blank = {"checksums": {}, "embedded": 0}
    return engine.index.manifest.with_(**{k: blank[k] for k in ignore})


def assert_same_index(ours: Engine, theirs: Engine, ignore: tuple[str, ...] = ("checksums",)) -> None:
    a, b = ours.index.records, theirs.index.records
    assert a.bulletins == b.bulletins and a.chunks == b.chunks and a.sentences == b.sentences
    assert a.chunk_hashes == b.chunk_hashes and a.sentence_hashes == b.sentence_hashes
    assert a.chunk_terms == b.chunk_terms and a.file_hashes == b.file_hashes
    assert _manifest(ours, ignore) == _manifest(theirs, ignore)
    assert float((a.chunk_vectors * b.chunk_vectors).sum(axis=1).min()) >= 0.999
    sentence_cosines = (a.sentence_vectors.astype(np.float32) * b.sentence_vectors.astype(np.float32)).sum(axis=1)
    assert float(sentence_cosines.min()) >= 0.999


def test_a_ray_build_writes_the_local_build(ray_cluster, corpus, local_build, tmp_path):
    settings = Settings(seeds=corpus, index=tmp_path / "index")
    seen: list[tuple[str, int, int]] = []
    engine, report = open_on_ray(settings, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert isinstance(report.plan, Build) and report.plan.reason is Reason.NO_INDEX
    assert len(engine.index.bulletins) >= BULLETINS
    assert_same_index(engine, local_build)
    # the same generation on disk, switched by CURRENT, loadable by the local code
    assert store.load(settings.index).chunks == local_build.index.chunks
    # progress is reported as a local build reports it: splitting, embedding, saving, each to its end
    stages = [s for s, _, _ in seen]
    assert stages.index("splitting") < stages.index("embedding") < stages.index("saving")
    for stage in ("splitting", "embedding"):
        last = [(d, t) for s, d, t in seen if s == stage][-1]
        assert last[0] == last[1] > 0


def test_unchanged_files_keep_their_split_and_vectors(ray_cluster, corpus, tmp_path, embedder):
    settings = Settings(seeds=tmp_path / "seeds", index=tmp_path / "index")
    write_corpus(settings.seeds, 40, seed=1)
    open_on_ray(settings)
    write_corpus(settings.seeds, 3, seed=2)  # three new files
    (settings.seeds / "bulletin-1-0000.txt").write_text("A changed bulletin\n\nIts text changed entirely.\n")
    engine, report = open_on_ray(settings, rebuild=False)
    assert isinstance(report.plan, Build) and report.plan.reason is Reason.BULLETINS_CHANGED
    local, _ = open_engine(Settings(seeds=settings.seeds, index=tmp_path / "local"), embedder)
    assert_same_index(engine, local, ignore=("checksums", "embedded"))
    # only the chunks of the changed and new files were embedded again
    assert engine.index.manifest.embedded <= 3 * 3 + 2


def test_new_files_alone_are_appended_as_locally(ray_cluster, tmp_path):
    settings = Settings(seeds=tmp_path / "seeds", index=tmp_path / "index")
    write_corpus(settings.seeds, 10, seed=6)
    first, _ = open_on_ray(settings)
    write_corpus(settings.seeds, 2, seed=7)
    engine, report = open_on_ray(settings)
    assert isinstance(report.plan, Append) and len(report.plan.files) == 2
    assert engine.index.manifest.segments and engine.index.chunks[:len(first.index.chunks)] == first.index.chunks


def test_an_interrupted_ray_build_leaves_the_previous_index_serving(ray_cluster, tmp_path):
    settings = Settings(seeds=tmp_path / "seeds", index=tmp_path / "index")
    write_corpus(settings.seeds, 20, seed=3)
    first, _ = open_on_ray(settings)
    before = store.current_generation(settings.index)
    write_corpus(settings.seeds, 5, seed=4)
    (settings.seeds / "bulletin-3-0001.txt").unlink()  # a removal: a full build, not an append

    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "embedding":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        open_on_ray(settings, progress=interrupt)
    assert store.current_generation(settings.index) == before
    assert store.load(settings.index).chunks == first.index.chunks


def test_the_flag_names_the_cluster_before_rag_ray_address():
    from rag.cluster import address_for

    settings = Settings.from_env({"RAG_RAY_ADDRESS": "auto"})
    assert address_for(settings, "10.0.0.5:6379") == "10.0.0.5:6379"
    assert address_for(settings, "") == "auto"
    assert address_for(Settings.from_env({}), "") == ""


def test_rag_index_ray_joins_a_cluster_by_address(ray_cluster, tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 12, seed=5)
    done = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--ray", ray_cluster, "--seeds", str(seeds),
                           "--index", str(tmp_path / "index")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "index ready in" in done.stdout and " bulletins, " in done.stdout
    assert "rag: built the index" in done.stderr
