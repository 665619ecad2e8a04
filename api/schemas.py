"""Request and response models: the contract, and the OpenAPI schema for free."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["hybrid", "dense", "bm25"]


class Filtered(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(None, ge=1, le=50, description="passages to retrieve (default 5)")
    mode: Mode | None = Field(None, description="retrieval mode (default hybrid)")
    bulletin_ids: list[str] | None = Field(None, max_length=200, description="search only these bulletins")
    date_from: dt.date | None = Field(None, description="only bulletins dated on or after (YYYY-MM-DD); "
                                      "a date stated without a year (--MM-DD) passes when some year fits the range")
    date_to: dt.date | None = Field(None, description="only bulletins dated on or before (YYYY-MM-DD)")


# The engine checks these limits itself, with messages people understand; the schema states them
# for clients and fuzzers without pydantic's wording.
QUESTION_SCHEMA = {"minLength": 1, "maxLength": 2000, "pattern": r"\S"}


class AskRequest(Filtered):
    question: str = Field(..., description="the question: 1 to 2,000 characters, not only spaces",
                          examples=["Where did the IPCC release its Synthesis Report?"],
                          json_schema_extra=QUESTION_SCHEMA)


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=20_000, json_schema_extra={"minLength": 1, "pattern": r"\S"})


class ChatRequest(Filtered):
    messages: list[Message] = Field(..., min_length=1, max_length=50)


VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"  # at least one visible character (control characters are dropped)


class NewBulletin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., min_length=1, max_length=300, json_schema_extra={"pattern": VISIBLE})
    text: str = Field(..., min_length=1, max_length=200_000, json_schema_extra={"pattern": VISIBLE})
    date: dt.date | None = None
    source: str | None = Field(None, max_length=100, description="name of the source, used in the file name")


UPLOAD_DESCRIPTION = ("JSON (title, text) or a file as `multipart/form-data` in the field `file`: .txt, .md, .pdf, "
                      ".html, .htm or .docx, one bulletin per file, under the same key and size limit. A file "
                      "with no text to cite (an encrypted or scanned PDF, a page with no main text) answers 422.")
# The multipart form beside the JSON body (api/files.py serves it; the JSON body is NewBulletin's).
UPLOAD_BODY = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
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
