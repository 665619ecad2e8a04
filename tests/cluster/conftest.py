"""The Ray cluster fixture, here so that only the tests under tests/cluster/ can start one."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """A real local Ray cluster (head node, raylet, object store) for the tests that need one,
    started once; its address lets `rag serve --ray ADDRESS` subprocesses join it."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    from rag import cluster

    address = cluster.connect("", num_cpus=2, object_store_bytes=300 * 1024 * 1024)
    yield address
    ray.shutdown()
