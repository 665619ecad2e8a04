"""Routes that carry files: a bulletin uploaded as a file (``POST /bulletins``, multipart), and a
bulletin's original file, read-only (``GET /bulletins/{id}/original``).

The upload shares ``POST /bulletins`` with the JSON route: its route answers only requests sent
as ``multipart/form-data`` and lets every other one through to the JSON route. The original is
looked up by bulletin id among the corpus files the engine has read, never by a path from the
request, so nothing else on the server can be reached through it.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from starlette.routing import Match

from rag.service.live import LiveIndex

from .routes import ERRORS, _info, live_index, require_api_key
from .schemas import BulletinInfo

# A web page served from this origin must not run its scripts here, nor load anything.
_PAGE_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_TYPES = {".txt": "text/plain", ".md": "text/plain", ".html": "text/html", ".htm": "text/html",
          ".pdf": "application/pdf",
          ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


class _MultipartRoute(APIRoute):
    def matches(self, scope):
        match, child = super().matches(scope)
        if match is Match.FULL and not _is_multipart(scope):
            return Match.NONE, {}
        return match, child


def _is_multipart(scope) -> bool:
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    return content_type.split(b";")[0].strip().lower() == b"multipart/form-data"


upload_router = APIRouter(route_class=_MultipartRoute)
router = APIRouter()


@upload_router.post("/bulletins", response_model=BulletinInfo, status_code=201, include_in_schema=False,
                    dependencies=[Depends(require_api_key)])
def add_bulletin_file(file: UploadFile = File(...), live: LiveIndex = Depends(live_index)) -> BulletinInfo:
    return _info(live.add_file(file.filename or "", file.file.read()))


@router.get("/bulletins/{bulletin_id}/original", responses={**ERRORS, 200: {"content": {
    **{media: {} for media in sorted(set(_TYPES.values()))}, "application/octet-stream": {}},
    "description": "the bulletin's original file"}}, response_class=FileResponse,
            summary="The original file a bulletin comes from (a PDF opens at a page with #page=N)")
def original_file(bulletin_id: str, live: LiveIndex = Depends(live_index)) -> FileResponse:
    engine = live.engine
    source = engine.files[engine.bulletin(bulletin_id).source]
    suffix = source.path.suffix.lower()
    media_type = _TYPES.get(suffix) or mimetypes.guess_type(source.path.name)[0] or "application/octet-stream"
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    if media_type == "text/html":
        headers["Content-Security-Policy"] = _PAGE_POLICY
    inline = media_type in ("text/plain", "text/html", "application/pdf")
    return FileResponse(source.path, media_type=media_type, headers=headers, filename=source.path.name,
                        content_disposition_type="inline" if inline else "attachment")

