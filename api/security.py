"""Security headers on every response: a strict Content-Security-Policy, nosniff, no referrer, framing policy.

The page and the widget run no inline script or style, so the policy allows scripts and styles from this
origin only. FastAPI's own /docs and /redoc load Swagger UI and ReDoc from their CDN and start them with an
inline script: those two pages get a policy that names the CDN and the hash of each inline script they carry
(ReDoc also injects its styles inline, so styles are allowed inline on them only).
"""

from __future__ import annotations

import base64
import hashlib
import re

DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def frame_ancestors(allowed: tuple[str, ...]) -> str:
    return " ".join(allowed) if allowed else "'none'"


def page_policy(allowed_frames: tuple[str, ...]) -> str:
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors(allowed_frames)}")


def docs_policy(allowed_frames: tuple[str, ...], inline_scripts: list[bytes]) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in inline_scripts)
    return (f"default-src 'none'; script-src 'self' {_CDN} {hashes}".rstrip() + "; "
            f"style-src 'self' {_CDN} https://fonts.googleapis.com 'unsafe-inline'; "
            "font-src https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; connect-src 'self'; "
            f"worker-src blob:; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors(allowed_frames)}")


class SecurityHeaders:
    """Adds the headers to every HTTP response; ``allowed_frames``: origins that may frame the pages
    (RAG_FRAME_ANCESTORS), none by default."""

    def __init__(self, app, allowed_frames: tuple[str, ...] = ()):
        self.app = app
        self.allowed_frames = tuple(allowed_frames)
        self.headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
        if not self.allowed_frames:
            self.headers.append((b"x-frame-options", b"DENY"))  # for browsers that predate frame-ancestors

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope.get("path") in DOCS_PATHS:
            return await self._docs(scope, receive, send)
        policy = page_policy(self.allowed_frames).encode()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers,
                                      (b"content-security-policy", policy)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope, receive, send):
        """The docs pages are small: hold the body to hash its inline scripts, then send it whole."""
        start: dict = {}
        chunks: list[bytes] = []

        async def held(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            policy = docs_policy(self.allowed_frames, _INLINE_SCRIPT.findall(body)).encode()
            await send({**start, "headers": [*start.get("headers", []), *self.headers,
                                             (b"content-security-policy", policy)]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, held)
