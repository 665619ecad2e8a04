"""Limits of a real `rag serve` process, over raw sockets: request head size, slow headers,
and proxies trusted only when configured (issue 14, findings 5 and 7)."""

from __future__ import annotations

import os
import shutil
import socket
import time

import httpx
import pytest

from rag.config import PROJECT_ROOT

from helpers import SEEDS, rag_serve

pytestmark = pytest.mark.slow
HEADER_TIMEOUT = 2


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits-server")
    shutil.copytree(SEEDS, root / "seeds")
    env = {**os.environ, "RAG_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "RAG_RATE_LIMIT_PER_MINUTE": "3",
           "RAG_MAX_HEADER_BYTES": "16384"}
    env.pop("RAG_TRUSTED_PROXIES", None)
    with rag_serve("--seeds", str(root / "seeds"), "--index", str(root / "index"), env=env, cwd=PROJECT_ROOT) as port:
        yield port


def exchange(port: int, raw: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (ConnectionResetError, socket.timeout):
            pass
    return b"".join(chunks)


def test_an_oversized_request_head_is_refused(port):
    reply = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") or reply == b""  # never served
    assert b'"ok"' not in reply
    ok = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Fine: " + b"a" * 8000 + b"\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200")


def test_too_many_headers_are_refused(port):
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    reply = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431")


def test_a_slow_request_head_is_cut_off(port):
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + 10) as s:
        started = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        closed = False
        while time.monotonic() - started < HEADER_TIMEOUT + 8:
            try:
                s.sendall(b"X-Slow: 1\r\n")  # a header line now and then, never the blank line
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.5)
            try:
                if s.recv(1024) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
        elapsed = time.monotonic() - started
    assert closed and HEADER_TIMEOUT - 0.5 <= elapsed <= HEADER_TIMEOUT + 3, elapsed


def test_a_spoofed_forwarded_for_is_ignored_by_default(port):
    url = f"http://127.0.0.1:{port}/search"
    statuses = [httpx.post(url, json={"question": "IPCC", "mode": "bm25"},
                           headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=30).status_code for i in range(5)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]  # one bucket: the real peer's


def test_proxies_are_trusted_only_when_configured():
    from api.server import server_config
    from rag.config import Settings

    plain = server_config(None, Settings.from_env({}), "127.0.0.1", 0)
    assert plain.proxy_headers is False
    behind = server_config(None, Settings.from_env({"RAG_TRUSTED_PROXIES": "10.0.0.2, 10.0.0.3"}), "127.0.0.1", 0)
    assert behind.proxy_headers is True and behind.forwarded_allow_ips == "10.0.0.2,10.0.0.3"
