"""ASGI middleware: request ids and access log, body size limit, per-client rate limit."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import uuid

log = logging.getLogger("api.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_HEADERS = 100  # their total size is capped by the server (api/server.py)


async def _send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


class RequestContext:
    """Gives every request an id (``X-Request-ID``, kept if the client sent a sane one) and logs
    one JSON line per request with its status and timings."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if len(scope.get("headers") or ()) > MAX_HEADERS:
            return await _send_json(send, 431, {"error": f"more than {MAX_HEADERS} request headers",
                                                "code": "headers_too_large", "request_id": None})
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            line = {"request_id": request_id, "method": scope.get("method"), "path": scope.get("path"),
                    "status": status, "ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0]}
            timings = scope["state"].get("timings")
            if timings:
                line["timings_ms"] = timings
            log.info(json.dumps(line))


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, whether or not Content-Length is sent.

    The body is read here, in full, before the app sees it (at most ``max_bytes`` are held): a
    limit raised while the app reads would reach FastAPI's body parser, which answers 400.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        message = {"error": f"the request body is larger than {self.max_bytes} bytes", "code": "body_too_large",
                   "request_id": scope.get("state", {}).get("request_id")}
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _send_json(send, 413, message)
        parts, received = [], 0
        while True:
            event = await receive()
            if event["type"] != "http.request":  # the client went away
                return
            parts.append(event.get("body", b""))
            received += len(parts[-1])
            if received > self.max_bytes:
                return await _send_json(send, 413, message, [(b"connection", b"close")])
            if not event.get("more_body", False):
                break
        replayed = False

        async def buffered_receive():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}
            return await receive()

        await self.app(scope, buffered_receive, send)


class RateLimit:
    """Token bucket per client address on the question endpoints: 429 with Retry-After when empty."""

    def __init__(self, app, per_minute: int,
                 paths: tuple[str, ...] = ("/ask", "/search", "/chat", "/v1/chat/completions", "/")):
        self.app = app
        self.per_minute = per_minute
        self.paths = paths
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _take(self, client: str) -> float:
        """0 if a request may pass, else seconds until it may."""
        now = time.monotonic()
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                if len(self._buckets) > 10_000:  # forget idle clients
                    self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / rate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.per_minute <= 0 or scope.get("path") not in self.paths:
            return await self.app(scope, receive, send)
        wait = self._take((scope.get("client") or ("-",))[0])
        if wait > 0:
            return await _send_json(
                send, 429,
                {"error": f"too many questions from this address: try again in {math.ceil(wait)} s",
                 "code": "rate_limited", "request_id": scope.get("state", {}).get("request_id")},
                [(b"retry-after", str(math.ceil(wait)).encode())])
        return await self.app(scope, receive, send)
