"""Request and response models: the contract, and the OpenAPI schema for free."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from rag.config import Settings
from rag.dates import ISO_DATE
from rag.inputs import NOT_BLANK, VISIBLE, unencodable_at

Mode = Literal["hybrid", "dense", "bm25"]


class RequestModel(BaseModel):
    """Every request body: strict types (no ``"5"`` or ``true`` for a number, no number for a date),
    no unknown fields, and no text that cannot be encoded, checked here once for all models."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value):
        for text in _strings(value):
            at = unencodable_at(text)
            if at is not None:
                raise ValueError(f"holds a character that cannot be encoded (U+{ord(text[at]):04X} at "
                                 f"position {at}): send valid Unicode text")
        return value


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _iso_date(value):
    """Only what the schema's ``format: date`` allows: a ``YYYY-MM-DD`` string."""
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a valid date: use YYYY-MM-DD") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("a date must be a string YYYY-MM-DD")


def _whole_number(value):
    """What JSON Schema calls an integer: ``5`` or ``5.0``, never ``true`` or ``"5"``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # strict validation refuses the rest


Date = Annotated[dt.date, BeforeValidator(_iso_date)]


@dataclass(frozen=True)
class RequestModels:
    """The request bodies of one app, with the limits of its settings in their schema and validation."""

    filtered: type[RequestModel]  # what /ask, /search and /chat share: top_k, mode, filters
    ask: type[RequestModel]
    message: type[RequestModel]
    chat: type[RequestModel]
    new_bulletin: type[RequestModel]


def request_models(settings: Settings) -> RequestModels:
    """The request bodies for ``settings``' limits (``RAG_MAX_QUESTION_CHARS``, ``RAG_MAX_TOP_K``, ...)."""
    return _models(settings.max_question_chars, settings.max_top_k, settings.max_messages,
                   settings.max_message_chars, settings.max_title_chars, settings.max_text_chars)


@lru_cache(maxsize=8)
def _models(max_question_chars: int, max_top_k: int, max_messages: int, max_message_chars: int,
            max_title_chars: int, max_text_chars: int) -> RequestModels:
    # Field(ge, le) before the validator, or the schema says "ge"/"le" instead of "minimum"/"maximum".
    TopK = Annotated[int, Field(ge=1, le=max_top_k), BeforeValidator(_whole_number)]  # noqa: N806

    class Filtered(RequestModel):
        top_k: TopK | None = Field(None, description="passages to retrieve (default 5)")
        mode: Mode | None = Field(None, description="retrieval mode (default hybrid)")
        bulletin_ids: list[str] | None = Field(None, max_length=200, description="search only these bulletins")
        date_from: Date | None = Field(None, description="only bulletins dated on or after (YYYY-MM-DD); a date "
                                       "stated without a year (--MM-DD) passes when some year fits the range")
        date_to: Date | None = Field(None, description="only bulletins dated on or before (YYYY-MM-DD)")

    # The engine checks the question's limits itself, with messages people understand; the schema
    # states them for clients and fuzzers without pydantic's wording. The patterns are explicit
    # character classes that Python and JSON Schema (ECMA-262) read alike (rag/inputs.py).
    class AskRequest(Filtered):
        question: str = Field(..., description=f"the question: 1 to {max_question_chars:,} characters, not only "
                              "spaces", examples=["Where did the IPCC release its Synthesis Report?"],
                              json_schema_extra={"minLength": 1, "maxLength": max_question_chars,
                                                 "pattern": NOT_BLANK})

    class Message(RequestModel):
        role: Literal["user", "assistant"]
        content: str = Field(..., max_length=max_message_chars,
                             json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})

    class ChatRequest(Filtered):
        messages: list[Message] = Field(..., min_length=1, max_length=max_messages,
                                        description="at least one user turn",
                                        json_schema_extra={"contains": {
                                            "type": "object", "required": ["role"],
                                            "properties": {"role": {"const": "user"}}}})

    class NewBulletin(RequestModel):
        title: str = Field(..., min_length=1, max_length=max_title_chars, json_schema_extra={"pattern": VISIBLE})
        text: str = Field(..., min_length=1, max_length=max_text_chars, json_schema_extra={"pattern": VISIBLE})
        date: Date | None = None
        source: str | None = Field(None, max_length=100, description="name of the source, used in the file name")

    return RequestModels(Filtered, AskRequest, Message, ChatRequest, NewBulletin)


UPLOAD_DESCRIPTION = ("JSON (title, text) or a file as `multipart/form-data` in the field `file`: .txt, .md, .pdf, "
                      ".html, .htm or .docx, one bulletin per file, under the same key and size limit. A file "
                      "with no text to cite (an encrypted or scanned PDF, a page with no main text) answers 422.")
# The multipart form beside the JSON body (api/files.py serves it; the JSON body is NewBulletin's).
UPLOAD_BODY = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "additionalProperties": False,
    "properties": {"file": {"type": "string", "format": "binary", "description": "the bulletin file"}}}}}}}


class BulletinInfo(BaseModel):
    id: str
    title: str
    date: str | None
    source: str
    char_start: int
    char_end: int
    size: int = Field(..., description="characters")


class BulletinText(BulletinInfo):
    text: str = Field(..., description="the bulletin's text: [char_start:char_end] of its file, or of the text "
                                       "extracted from a PDF, web page or Word file")


class Ready(BaseModel):
    ready: bool
    bulletins: int
    chunks: int
    model: str


class ErrorBody(BaseModel):
    error: str
    code: str
    request_id: str | None = None
