"""Helpers the tests share: a free loopback port, and waiting for a `rag serve` process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


@contextmanager
def rag_serve(*args: str, env: dict | None = None, cwd=None):
    """A real `rag serve` on a free loopback port with ``args``; yields the port once it is ready."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        process.terminate()
        process.wait(30)
