"""Session fixtures: the real bundled model and a real index of the seeds, built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.engine import Engine, load_embedder

SEEDS = PROJECT_ROOT / "seeds"
SEED_FILE = SEEDS / "china-carbon-neutrality-2023-03.txt"
# The user's digest: its five headlines as written (non-breaking spaces read as spaces).
SEED_TITLES = [
    "The National carbon neutrality Science and Technology Expert Committee was established",
    "Ministry of Industry and Information Technology: Iron and steel, non-ferrous metals, building materials, "
    "petrochemical and chemical industries have all formulated carbon peak plans",
    'The Ministry of Ecology and Environment issued the "Notice on Doing a Good Job in the Allocation of '
    'National Carbon Emissions Trading Quotas in 2021 and 2022"',
    'IPCC Releases Sixth Assessment Report "Synthesis Report"',
    'The Ministry of Ecology and Environment issued the "Letter on the Public Collection of Methodological '
    'Suggestions for Greenhouse Gas Voluntary Emission Reduction Projects"',
]


@pytest.fixture(scope="session")
def embedder():
    return load_embedder(Settings())


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("seed-index")


@pytest.fixture(scope="session")
def settings(seed_index) -> Settings:
    return Settings(seeds=SEEDS, index=seed_index)


@pytest.fixture(scope="session")
def engine(settings, embedder) -> Engine:
    engine, _ = Engine.open(settings, embedder)
    return engine


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private copy of the seeds that a test may change."""
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """A real local Ray cluster (head node, raylet, object store) for the tests that need one,
    started once; its address lets `rag serve --ray ADDRESS` subprocesses join it."""
    import os

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    from rag import cluster

    address = cluster.connect("", num_cpus=2, object_store_bytes=300 * 1024 * 1024)
    yield address
    ray.shutdown()
