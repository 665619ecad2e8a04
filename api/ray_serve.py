"""``rag serve --ray``: the same app through Ray Serve's FastAPI ingress, N replicas of it.

Every replica reads the one index folder (shared storage) through a ``FollowerIndex``: it
serves the generation ``CURRENT`` names and swaps in each new one. ``POST /bulletins`` and
``DELETE /bulletins/{id}``, whichever replica takes them, go to the one writer, a named Ray
actor (``rag.cluster.writer``). Each response names its replica and the generation it was
answered from (``X-Replica``, ``X-Index-Generation``), so a client can tell the replicas apart.

Ray Serve's HTTP proxy listens on the port given and routes to the replicas; the uvicorn limits
of ``api/server.py`` (request-head size and time) are the proxy's there, not ours. The app's
own limits (body size, rate limit per replica, strict bodies) apply unchanged.
"""

from __future__ import annotations

import logging
import signal
import threading

from ray import serve

from rag.cluster import cluster_cpus, connect
from rag.cluster.follow import FollowerIndex
from rag.cluster.writer import find_writer, start_writer
from rag.config import Settings
from rag.service.lifecycle import load_embedder

from .app import create_app

log = logging.getLogger("api")
APP_NAME = "bulletin-rag"


@serve.ingress()
class Replica:
    """One replica: the app over a follower of the index; built when Serve starts the replica."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self.follower: FollowerIndex | None = None

    def __serve_build_asgi_app__(self):
        self.follower = FollowerIndex(self._settings, load_embedder(self._settings), find_writer(self._settings))
        app = create_app(self._settings, live=self.follower)
        app.add_middleware(ReplicaHeaders, replica=serve.get_replica_context().replica_id.unique_id,
                           follower=self.follower)
        return app


class ReplicaHeaders:
    """``X-Replica`` (this replica's id) and ``X-Index-Generation`` on every response."""

    def __init__(self, app, replica: str, follower: FollowerIndex):
        self.app, self._replica, self._follower = app, replica.encode(), follower

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_named(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-replica", self._replica),
                                      (b"x-index-generation", self._follower.generation.encode())]
            await send(message)

        await self.app(scope, receive, send_named)


def deploy(settings: Settings, host: str, port: int, replicas: int):
    """Start the writer, Serve's proxy on ``host:port`` and ``replicas`` replicas, on the cluster
    already joined; returns the writer's handle once every replica is ready."""
    writer = start_writer(settings)
    serve.start(http_options={"host": host, "port": port})  # a proxy on every node
    # the replicas share the cluster's CPUs; each answers questions on its own threads
    cpus = min(1.0, cluster_cpus() / replicas)
    deployment = serve.deployment(Replica, name=APP_NAME, num_replicas=replicas,
                                  ray_actor_options={"num_cpus": cpus}, health_check_period_s=2,
                                  graceful_shutdown_timeout_s=5)
    serve.run(deployment.bind(settings), name=APP_NAME, route_prefix="/", blocking=False)
    return writer


def run(settings: Settings, address: str, host: str, port: int, replicas: int, on_ready=None) -> None:
    """Serve until SIGINT or SIGTERM, then take the replicas, the proxy and the writer down."""
    import ray

    connect(address)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    writer = None
    try:
        writer = deploy(settings, host, port, replicas)
        if on_ready:
            on_ready()
        stop.wait()
    finally:
        serve.shutdown()
        if writer is not None:
            ray.kill(writer)
