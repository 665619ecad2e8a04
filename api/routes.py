"""Thin routes: turn HTTP into core calls and back. CPU-bound work runs in the thread pool (sync defs)."""

import hmac

import anyio
from fastapi import APIRouter, Depends, Header, Request

from rag.records import Answer, ChatAnswer, Passage
from rag.search.hybrid import Filters
from rag.service.live import LiveIndex

from .errors import error_response
from .schemas import UPLOAD_BODY, UPLOAD_DESCRIPTION, BulletinInfo, BulletinText, ErrorBody, Ready, RequestModels

router = APIRouter()
ERRORS = {code: {"model": ErrorBody} for code in (400, 404, 413, 422, 429, 503)}


def _bearer_matches(authorization: str | None, *keys: str) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip().encode()
    return scheme.lower() == "bearer" and any(hmac.compare_digest(token, key.encode()) for key in keys if key)


def require_api_key(request: Request, authorization: str | None = Header(None, include_in_schema=False)) -> None:
    configured = request.app.state.settings.api_key
    if not configured:
        raise _Refused(403, "forbidden", "writing is disabled on this server: set RAG_API_KEY to enable it")
    if not _bearer_matches(authorization, configured):
        raise _Refused(401, "unauthorized", "a valid API key is required: send Authorization: Bearer <key>")


def may_read(settings, authorization: str | None) -> bool:
    """Reading is open unless RAG_READ_KEY is set; then that key (or the write key) is required."""
    return not settings.read_key or _bearer_matches(authorization, settings.read_key, settings.api_key)


def require_read_key(request: Request, authorization: str | None = Header(None, include_in_schema=False)) -> None:
    if not may_read(request.app.state.settings, authorization):
        raise _Refused(401, "unauthorized", "a valid read key is required: send Authorization: Bearer <key>")


READ = [Depends(require_read_key)]


def live_index(request: Request) -> LiveIndex:
    return request.app.state.live


def _filters(body) -> Filters:
    """The filters of a request body (``RequestModels.filtered``)."""
    return Filters(
        bulletin_ids=frozenset(body.bulletin_ids) if body.bulletin_ids else None,
        date_from=body.date_from.isoformat() if body.date_from else None,
        date_to=body.date_to.isoformat() if body.date_to else None,
    )


def _record_timings(request: Request, answer: Answer) -> None:
    request.state.timings = answer.timings_ms


async def on_cpu(request: Request, fn, *args):
    """Run CPU-bound core work off the event loop, at most one job per core at a time: under load,
    questions wait their turn in order instead of 40 threads fighting over two cores."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=request.app.state.cpu_limiter)


def body_router(models: RequestModels) -> APIRouter:
    """The routes that read a request body, typed with ``models`` (the app's limits)."""
    router = APIRouter()
    AskRequest, ChatRequest, NewBulletin = models.ask, models.chat, models.new_bulletin  # noqa: N806

    @router.post("/ask", dependencies=READ, response_model=Answer, responses=ERRORS,
                 summary="Answer a question with cited sentences")
    async def ask(body: AskRequest, request: Request, live: LiveIndex = Depends(live_index)) -> Answer:
        answer = await on_cpu(request, live.engine.ask, body.question, body.top_k, body.mode, _filters(body))
        _record_timings(request, answer)
        return answer

    @router.post("/search", dependencies=READ, response_model=list[Passage], responses=ERRORS,
                 summary="Ranked passages only")
    async def search(body: AskRequest, request: Request, live: LiveIndex = Depends(live_index)) -> list[Passage]:
        passages, _, _ = await on_cpu(request, live.engine.search, body.question, body.top_k, body.mode,
                                      _filters(body))
        return passages

    @router.post("/chat", dependencies=READ, response_model=ChatAnswer, responses=ERRORS,
                 summary="Answer the last user message, resolving follow-ups with the earlier turns")
    async def chat(body: ChatRequest, request: Request, live: LiveIndex = Depends(live_index)) -> ChatAnswer:
        return await on_cpu(request, chat_answer, body, request, live)

    @router.post("/bulletins", response_model=BulletinInfo, status_code=201,
                 responses={**ERRORS, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 415: {"model": ErrorBody}},
                 dependencies=[Depends(require_api_key)], summary="Add a bulletin", description=UPLOAD_DESCRIPTION,
                 openapi_extra=UPLOAD_BODY)
    def add_bulletin(body: NewBulletin, live: LiveIndex = Depends(live_index)) -> BulletinInfo:
        date = body.date.isoformat() if body.date else None
        return _info(live.add(body.title, body.text, date, body.source))

    return router


def chat_answer(body, request: Request, live: LiveIndex) -> ChatAnswer:
    """The answer to a conversation (``RequestModels.chat``): its last user turn, completed from the earlier ones."""
    answer = live.engine.chat([(m.role, m.content) for m in body.messages], body.top_k, body.mode, _filters(body))
    _record_timings(request, answer)
    return answer


@router.get("/bulletins", dependencies=READ, response_model=list[BulletinInfo],
            summary="Every bulletin: id, title, date, source, size")
def list_bulletins(live: LiveIndex = Depends(live_index)) -> list[BulletinInfo]:
    return [_info(b) for b in live.engine.index.bulletins]


@router.get("/bulletins/{bulletin_id}", dependencies=READ, response_model=BulletinText, responses=ERRORS,
            summary="One bulletin with its full original text")
def get_bulletin(bulletin_id: str, live: LiveIndex = Depends(live_index)) -> BulletinText:
    engine = live.engine
    b = engine.bulletin(bulletin_id)
    return BulletinText(**_info(b).model_dump(), text=engine.bulletin_text(bulletin_id))


@router.delete("/bulletins/{bulletin_id}", response_model=BulletinInfo, responses={**ERRORS, 401: {"model": ErrorBody},
               403: {"model": ErrorBody}, 409: {"model": ErrorBody}}, dependencies=[Depends(require_api_key)],
               summary="Remove a bulletin added through the API")
def delete_bulletin(bulletin_id: str, live: LiveIndex = Depends(live_index)) -> BulletinInfo:
    return _info(live.delete(bulletin_id))


@router.get("/healthz", summary="The process is up")
def healthz() -> dict:
    return {"ok": True}


@router.get("/readyz", response_model=Ready, summary="The index is loaded")
def readyz(live: LiveIndex = Depends(live_index)) -> Ready:
    engine = live.engine
    return Ready(ready=True, bulletins=len(engine.index.bulletins), chunks=len(engine.index.chunks),
                 model=engine.settings.model_name)


def _info(b) -> BulletinInfo:
    return BulletinInfo(id=b.id, title=b.title, date=b.date, source=b.source, char_start=b.char_start,
                        char_end=b.char_end, size=b.char_end - b.char_start)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def install_refusals(app) -> None:
    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(request, exc.status, exc.code, exc.message, headers)
