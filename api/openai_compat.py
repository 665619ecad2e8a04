"""The OpenAI chat-completions protocol over /chat: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Clients that speak the protocol (the ``openai`` SDKs, Open WebUI, LibreChat, agent frameworks) get the same
extractive answer as /chat: its short answer, its ``[n]`` markers and a short "Sources" list in the message
content, and the full citation objects in a ``citations`` field beside it, which such clients ignore.
Sampling parameters mean nothing to an extractive answer and are ignored; parameters that would change what
comes back (tools, several choices, JSON output, log probabilities, audio) are refused in the protocol's
error shape.
"""

import json
import re
import time
import uuid
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, create_model

from rag.config import Settings
from rag.ingest.chunks import count_tokens
from rag.inputs import NOT_BLANK
from rag.records import ChatAnswer
from rag.service.live import LiveIndex

from .routes import chat_answer, live_index, on_cpu, require_read_key

MODEL_ID = "bulletin-rag"
STREAM_WORDS = 8  # words per streamed chunk: the answer is whole at once, chunks only follow the protocol

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(require_read_key)])


# ---- the request ---------------------------------------------------------------------------------------------

class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_calls, refusal, ...

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: StrictBool = False


_CONTAINS_A_QUESTION = {"contains": {"type": "object", "required": ["role", "content"], "properties": {
    "role": {"const": "user"},
    "content": {"anyOf": [{"type": "string", "pattern": NOT_BLANK},
                          {"type": "array", "minItems": 1, "contains": {
                              "type": "object", "required": ["type", "text"], "properties": {
                                  "type": {"const": "text"}, "text": {"type": "string", "pattern": NOT_BLANK}}}}]}}}}


class CompletionRequest(BaseModel):
    """The fields this service reads. Any other field of the protocol (temperature, top_p, max_tokens, seed,
    stop, user, ...) is accepted and ignored: an extractive answer has nothing to sample."""
    model_config = ConfigDict(extra="allow")

    model: str = Field(..., examples=[MODEL_ID])
    messages: list[CompletionMessage]  # at most RAG_MAX_MESSAGES: completions_router sets the field
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = Field(None, description="only 1 is supported",
                                json_schema_extra={"minimum": 1, "maximum": 1})  # others: 400, the protocol's error


class ProtocolErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ProtocolErrorBody(BaseModel):
    error: ProtocolErrorDetail


ERRORS = {code: {"model": ProtocolErrorBody} for code in (400, 401, 404, 413, 422, 429, 503)}


class _ProtocolError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


_REFUSED = {  # field: (is it asked for?, why not)
    "tools": (bool, "this service answers from the bulletins and calls no tools"),
    "functions": (bool, "this service answers from the bulletins and calls no functions"),
    "logprobs": (bool, "log probabilities do not exist for an extractive answer"),
    "top_logprobs": (lambda v: v is not None, "log probabilities do not exist for an extractive answer"),
    "audio": (lambda v: v is not None, "only text answers are available"),
    "modalities": (lambda v: bool(v) and list(v) != ["text"], "only text answers are available"),
    "response_format": (lambda v: isinstance(v, dict) and v.get("type") not in (None, "text"),
                        "only text answers are available (response_format type text)"),
}


def _refuse_unsupported(body: CompletionRequest) -> None:
    if body.n not in (None, 1):
        raise _ProtocolError(400, "only n=1 is supported: the extractive answer is the same every time", "n",
                             "unsupported_parameter")
    extra = body.model_extra or {}
    for name, (asked, why) in _REFUSED.items():
        if name in extra and asked(extra[name]):
            raise _ProtocolError(400, f"{name} is not supported: {why}", name, "unsupported_parameter")
    if body.model != MODEL_ID:
        raise _ProtocolError(404, f"The model {body.model!r} does not exist: this service has one model, "
                             f"{MODEL_ID!r} (GET /v1/models)", "model", "model_not_found")


def _as_chat(body: CompletionRequest, request: Request):
    """The turns /chat reads (the app's ``RequestModels.chat``): user and assistant text. System and
    developer prompts cannot change an extractive answer and are skipped, as are tool results."""
    models, limit = request.app.state.models, request.app.state.settings.max_message_chars
    turns = []
    for i, m in enumerate(body.messages):
        if m.role not in ("user", "assistant"):
            continue
        text = _text_of(m.content, i)
        if len(text) > limit:
            raise _ProtocolError(400, f"messages[{i}] is {len(text)} characters long; the limit is {limit}",
                                 f"messages[{i}].content", "string_above_max_length")
        if m.role == "user" or text:
            turns.append(models.message(role=m.role, content=text))
    if not any(t.role == "user" for t in turns):
        raise _ProtocolError(400, "messages hold no user question", "messages", "no_user_message")
    return models.chat(messages=turns)


def _text_of(content: str | list[ContentPart] | None, i: int) -> str:
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        if any(part.type != "text" for part in content):
            raise _ProtocolError(400, "only text content is supported", f"messages[{i}].content",
                                 "unsupported_content")
        text = "\n".join(part.text or "" for part in content)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape such as "\ud800"
        raise _ProtocolError(400, "the message holds a lone surrogate, which is not text",
                             f"messages[{i}].content", "invalid_text") from None
    return text


# ---- the answer as the protocol's message --------------------------------------------------------------------

def answer_content(answer: ChatAnswer) -> str:
    """The assistant message: the short answer (when the engine found one), the answer with its [n]
    markers and a short list of sources; or an abstention said in words."""
    if answer.abstained:
        text = f"The bulletins don't say. None of them answers: {answer.searched_question or answer.question}"
        titles = list(dict.fromkeys(p.title for p in answer.passages))[:3]
        if titles:
            text += "\n\nClosest bulletins:\n" + "\n".join(f"- {t}" for t in titles)
        return text
    sources = [f"[{c.n}] {c.title} ({c.source}, characters {c.char_start}-{c.char_end})" for c in answer.citations]
    # The short answer first, as the page shows it: a chat shows the reply's first line before the rest.
    short = f"Short answer: {answer.span}\n\n" if answer.span else ""
    return short + answer.answer + ("\n\nSources:\n" + "\n".join(sources) if sources else "")


def _usage(body: CompletionRequest, content: str) -> dict:
    """Tokens counted with cl100k_base: the text of every message read, and the content sent back."""
    read = [_text_of(m.content, i) for i, m in enumerate(body.messages)]
    prompt = sum(count_tokens([t for t in read if t])) if any(read) else 0
    completion = count_tokens([content])[0] if content else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _citations(answer: ChatAnswer) -> list[dict]:
    return [asdict(c) for c in answer.citations]


def _extras(answer: ChatAnswer) -> dict:
    """Fields beside the protocol's own, ignored by its clients."""
    return {"citations": _citations(answer), "abstained": answer.abstained, "short_answer": answer.span,
            "confidence": answer.confidence, "searched_question": answer.searched_question}


def _completion(answer: ChatAnswer, content: str, usage: dict, created: int, cid: str) -> dict:
    message = {"role": "assistant", "content": content, "refusal": None, "citations": _citations(answer)}
    return {"id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, **_extras(answer)}


def _stream(answer: ChatAnswer, content: str, usage: dict | None, created: int, cid: str):
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    pieces = re.findall(r"\s+|\S+\s*", content)
    for start in range(0, len(pieces), STREAM_WORDS):
        yield chunk({"content": "".join(pieces[start:start + STREAM_WORDS])})
    yield chunk({}, "stop", **_extras(answer))
    if usage is not None:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "choices": [], "usage": usage}
        yield f"data: {json.dumps(data)}\n\n"
    yield "data: [DONE]\n\n"


# ---- routes --------------------------------------------------------------------------------------------------

def _model() -> dict:
    return {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "bulletin-rag"}


@router.get("/models", responses=ERRORS, summary="The one model this service offers")
def list_models() -> dict:
    return {"object": "list", "data": [_model()]}


@router.get("/models/{model}", responses=ERRORS, summary="One model")
def get_model(model: str) -> dict:
    if model != MODEL_ID:
        raise _ProtocolError(404, f"The model {model!r} does not exist", "model", "model_not_found")
    return _model()


def completions_router(settings: Settings) -> APIRouter:
    """``POST /v1/chat/completions``, its body holding at most ``settings.max_messages`` messages."""
    completions = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(require_read_key)])
    body_model = create_model("CompletionRequest", __base__=CompletionRequest, __doc__=CompletionRequest.__doc__,
                              messages=(list[CompletionMessage], Field(
                                  ..., min_length=1, max_length=settings.max_messages,
                                  description="at least one user turn with a question",
                                  json_schema_extra=_CONTAINS_A_QUESTION)))

    @completions.post("/chat/completions", responses={**ERRORS, 200: {
                     "description": "a chat completion, or with stream: true its chunks as server-sent events",
                     "content": {"application/json": {}, "text/event-stream": {}}}},
                 summary="The answer to the last user message, as an OpenAI chat completion")
    async def chat_completions(body: body_model, request: Request, live: LiveIndex = Depends(live_index)) -> Any:
        _refuse_unsupported(body)
        chat = _as_chat(body, request)
        answer = await on_cpu(request, chat_answer, chat, request, live)
        content = answer_content(answer)
        created, cid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            return _completion(answer, content, _usage(body, content), created, cid)
        usage = _usage(body, content) if body.stream_options and body.stream_options.include_usage else None
        return StreamingResponse(_stream(answer, content, usage, created, cid), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return completions


# ---- errors in the protocol's shape --------------------------------------------------------------------------

_KINDS = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error",
          429: "rate_limit_error"}


def install(app) -> None:
    @app.exception_handler(_ProtocolError)
    async def protocol_error(request: Request, exc: _ProtocolError):
        return JSONResponse(error_body(exc.message, exc.kind, exc.param, exc.code), status_code=exc.status)


class ProtocolErrors:
    """Answers under /v1 fail in the protocol's shape, ``{"error": {"message", "type", "param", "code"}}``,
    whichever layer refused them (rate limit, body limit, validation, the key): the rest of the API keeps its own."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1/"):
            return await self.app(scope, receive, send)
        start: dict | None = None
        chunks: list[bytes] = []

        async def reshaping_send(message):
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _reshaped(start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshaping_send)


def _reshaped(status: int, raw: bytes) -> bytes:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return raw  # already in the protocol's shape
    message = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else None
    code = data.get("code") if isinstance(data, dict) else None
    kind = _KINDS.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return json.dumps(error_body(message or f"HTTP {status}", kind, None, code)).encode()
