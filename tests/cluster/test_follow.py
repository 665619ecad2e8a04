"""Replicas that follow one index folder: the writer's generations swapped in, nothing built by a reader.

The writer here is ``IndexWriter`` called in this process (in `rag serve --ray` it is a Ray actor:
tests/cluster/test_ray_serve.py), so these run without a cluster.
"""

from __future__ import annotations

import shutil
import time

import pytest

from rag.cluster.follow import FollowerIndex, open_current
from rag.cluster.writer import IndexWriter, unpacked
from rag.config import Settings
from rag.errors import NotFoundError
from rag.index import store

from helpers import SEEDS

pytestmark = pytest.mark.slow


class InProcessWriter:
    def __init__(self, settings: Settings):
        self._writer = IndexWriter(settings)

    def add(self, *args):
        return unpacked(self._writer.add(*args))

    def add_file(self, *args):
        return unpacked(self._writer.add_file(*args))

    def delete(self, *args):
        return unpacked(self._writer.delete(*args))


@pytest.fixture(scope="module")
def followed(tmp_path_factory, embedder):
    """One index (its build and model export are the slow part) shared by the tests below."""
    folder = tmp_path_factory.mktemp("followed")
    shutil.copytree(SEEDS, folder / "seeds")
    settings = Settings(seeds=folder / "seeds", index=folder / "index")
    writer = InProcessWriter(settings)
    followers = [FollowerIndex(settings, embedder, writer, poll_seconds=0.05) for _ in range(2)]
    yield settings, followers
    for f in followers:
        f.close()


def _wait(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def test_a_write_through_one_follower_is_served_by_both(followed):
    settings, (first, second) = followed
    added = first.add("Zebra census", "The wildlife authority counted 4,321 zebras in the Serengeti in 2023.")
    # the follower that took the write serves it when it answers
    assert first.generation == store.current_generation(settings.index).name
    assert "4,321" in first.engine.ask("How many zebras were counted?").answer
    _wait(lambda: second.generation == first.generation)
    assert "4,321" in second.engine.ask("How many zebras were counted?").answer
    # an add is read as its one new segment, and equals the whole generation read anew
    assert first.appends == second.appends == 1
    whole, name = open_current(settings, second.engine.embedder)
    assert name == second.generation
    assert whole.index.chunks == second.engine.index.chunks
    assert whole.index.sentences == second.engine.index.sentences
    assert whole.index.manifest == second.engine.index.manifest
    question = "How many zebras were counted in the Serengeti?"
    assert whole.ask(question).to_dict()["citations"] == second.engine.ask(question).to_dict()["citations"]
    assert whole.search(question)[1] == second.engine.search(question)[1]
    removed = second.delete(added.id)
    assert removed.id == added.id
    _wait(lambda: first.generation == second.generation)
    with pytest.raises(NotFoundError):
        first.engine.bulletin(added.id)


def test_a_domain_error_comes_back_as_itself(followed):
    _, (first, _) = followed
    with pytest.raises(NotFoundError):
        first.delete("no-such-bulletin")


def test_a_follower_never_builds_an_upload_the_writer_has_not_indexed(followed):
    settings, (first, _) = followed
    generation = first.generation
    settings.uploads.mkdir(parents=True, exist_ok=True)
    (settings.uploads / "half-done.txt").write_text("Not yet indexed\n\nThe writer has not indexed this.\n")
    first.refresh()
    reopened = FollowerIndex(settings, first.engine.embedder, None, poll_seconds=60)
    try:
        assert reopened.generation == generation == store.current_generation(settings.index).name
        assert all(b.source != "uploads/half-done.txt" for b in reopened.engine.index.bulletins)
    finally:
        reopened.close()
