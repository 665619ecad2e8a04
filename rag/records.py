"""Plain records of the domain, each defined once and serialised as is by the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Bulletin:
    id: str
    title: str
    source: str  # path as shown to users (relative to the project root for the default seeds)
    char_start: int
    char_end: int
    date: str | None  # ISO date stated in the text, if any


@dataclass(frozen=True)
class Sentence:
    bulletin_id: str
    char_start: int
    char_end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    id: int
    bulletin_id: str
    char_start: int
    char_end: int
    text: str
    sentence_ids: tuple[int, ...]  # indexes into the sentence table


@dataclass(frozen=True)
class Passage:
    bulletin_id: str
    title: str
    source: str
    char_start: int
    char_end: int
    text: str
    score: float
    text_source: str = ""  # the file that [char_start:char_end] slices: source, or its extracted text
    page: int | None = None  # 1-based, for a PDF


@dataclass(frozen=True)
class Citation:
    n: int
    bulletin_id: str
    title: str
    source: str
    char_start: int
    char_end: int
    quote: str
    text_source: str = ""  # the file that [char_start:char_end] slices: source, or its extracted text
    page: int | None = None  # 1-based, for a PDF


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    span: str | None
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    lang: str = "en"  # the question's language (rag/answer/multilingual.py); quotes are always the bulletins' own
    # The answer model's calibrated probability that the first sentence answers (it refuses below
    # its threshold); None where the heuristic answered (RAG_ANSWERER=heuristic, or a question not in English).
    confidence: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ChatAnswer(Answer):
    searched_question: str = ""  # the question actually searched, follow-ups made self-contained
