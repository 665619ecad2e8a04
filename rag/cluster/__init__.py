"""The index built and served on a Ray cluster: the same code on a laptop and on many nodes.

``build``: splitting and embedding as Ray Data stages, the generation written by the local
writer. ``follow``: a replica's read-only view of the index that swaps in each new generation.
``writer``: the one process that writes generations, as a named Ray actor. Ray is the ``ray``
extra (``pip install -e '.[ray]'``) and is imported only when one of these runs.

A folder of its own beside ``index/`` and ``service/`` rather than inside either: it scales out
both stages (the build, and the writer and readers of a served index) without changing them,
it is the one place in ``rag/`` that imports Ray, and it only drives ``lifecycle.open_engine``,
``plan`` and the store as a single process does.
"""

from __future__ import annotations

import logging
import os

from rag.config import Settings, available_cores
from rag.errors import RagError

log = logging.getLogger(__name__)
NAMESPACE = "bulletin-rag"
# A local cluster on a small machine: the object store holds a batch of texts or vectors at a
# time, never the corpus, so a few hundred MB is plenty and leaves memory for the models.
LOCAL_OBJECT_STORE_BYTES = 400 * 1024 * 1024


class ClusterError(RagError):
    """Ray is missing, or the cluster cannot be reached."""


def connect(address: str = "", *, num_cpus: int | None = None,
            object_store_bytes: int = LOCAL_OBJECT_STORE_BYTES) -> str:
    """Join the cluster at ``address`` (``auto``: the one running on this machine), or start a
    local one (head node, raylet and object store) when ``address`` is empty. Returns the
    cluster's address, which other processes can join. Dashboard and usage reports stay off."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: pip install -e '.[ray]'") from None
    if ray.is_initialized():
        return ray.get_runtime_context().gcs_address
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False, "namespace": NAMESPACE}
    try:
        if address:
            context = ray.init(address=address, **quiet)
        else:
            context = ray.init(num_cpus=num_cpus or available_cores(), include_dashboard=False,
                               object_store_memory=object_store_bytes, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address or '(local)'}: {exc}") from None
    return context.address_info["gcs_address"]


def cluster_cpus() -> int:
    """Logical CPUs of the cluster joined (at least 1)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def address_for(settings: Settings, flag: str | None) -> str:
    """The cluster to join: ``--ray ADDRESS`` wins over ``RAG_RAY_ADDRESS``; empty: a local one."""
    return flag or settings.ray_address
