"""One place that maps failures to HTTP: clear JSON bodies, no tracebacks, no server paths."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import (
    CorpusError,
    IndexStateError,
    NotFoundError,
    QueryError,
    RagError,
    SettingsError,
    UnsupportedFileError,
)
from rag.service.live import ReadOnlyBulletinError

log = logging.getLogger("api")

_STATUS = [
    (NotFoundError, 404, "not_found"),
    (ReadOnlyBulletinError, 409, "read_only"),
    (UnsupportedFileError, 415, "unsupported_file_type"),
    (QueryError, 422, "invalid_request"),
    (CorpusError, 422, "invalid_bulletin"),
]


def error_response(request: Request, status: int, code: str, message: str, headers=None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse({"error": message, "code": code, "request_id": request_id}, status_code=status,
                        headers=headers)


# What the client can do about an error, after the core's message of what is wrong.
_HINTS = [(NotFoundError, "GET /bulletins lists them")]


def install(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        if isinstance(exc, IndexStateError):  # its message names server paths: log it, don't send it
            log.error("index unavailable on %s %s: %s", request.method, request.url.path, exc)
            return error_response(request, 503, "index_unavailable",
                                  "the index is unavailable; the server log has the cause")
        if isinstance(exc, SettingsError):  # the server's configuration, not the request, is wrong
            log.error("bad setting on %s %s: %s", request.method, request.url.path, exc)
            return error_response(request, 500, "server_misconfigured",
                                  "the server is misconfigured; the server log has the cause")
        message = str(exc)
        for kind, hint in _HINTS:
            if isinstance(exc, kind):
                message = f"{message}: {hint}"
        for kind, status, code in _STATUS:
            if isinstance(exc, kind):
                return error_response(request, status, code, message)
        return error_response(request, 400, "bad_request", message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(request, 400, "malformed_json", "the request body is not valid JSON")
        parts = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return error_response(request, 422, "invalid_request", "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal_error", "internal error; the request id is in the server log")
