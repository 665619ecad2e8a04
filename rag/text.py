"""Normalisation for matching, and sentence boundaries with exact character offsets.

Offsets always refer to the original text. Normalised strings are copies used only
to compare and tokenise.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACE = re.compile(r"\s+")
MAX_SENTENCE_CHARS = 1500  # longer "sentences" (tables, unpunctuated dumps) are cut at spaces
_BLANK_LINE = re.compile(r"\n[ \t\u00a0\u3000]*\n")


def normalize(text: str) -> str:
    """Copy of ``text`` for matching: NFKC (non-breaking spaces become spaces), casefold, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def slug(text: str, max_chars: int) -> str:
    """``text`` as a name for ids and files: lower-case ASCII letters and digits joined by ``-``,
    at most ``max_chars`` long; empty when it has none."""
    return re.sub(r"[^a-z0-9]+", "-", normalize(text)).strip("-")[:max_chars].strip("-")


def strip_range(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Ranges of the paragraphs (runs of non-blank lines) inside ``text[start:end]``."""
    out = []
    cursor = start
    for match in _BLANK_LINE.finditer(text, start, end):
        out.append(strip_range(text, cursor, match.start()))
        cursor = match.end()
    out.append(strip_range(text, cursor, end))
    return [(s, e) for s, e in out if e > s]


@lru_cache(maxsize=4)
def _segmenter(language: str):
    import pysbd

    return pysbd.Segmenter(language=language, clean=False, char_span=True)


def split_sentences(text: str, start: int, end: int, language: str = "en") -> list[tuple[int, int]]:
    """Sentence ranges inside ``text[start:end]``, never crossing a line break between paragraphs.

    Each line of a paragraph that does not end a sentence (a headline, a subtitle) is kept
    with the sentence after it only when the line break is a soft wrap.
    """
    ranges: list[tuple[int, int]] = []
    for p_start, p_end in paragraphs(text, start, end):
        for l_start, l_end in _logical_lines(text, p_start, p_end):
            for s, e in _segment(text, l_start, l_end, language):
                ranges.extend(_cap_length(text, s, e))
    return ranges


def _cap_length(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut a range longer than MAX_SENTENCE_CHARS into pieces, at a space where there is one."""
    out = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = start + MAX_SENTENCE_CHARS
        space = max(text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, cut), text.rfind("\n", start, cut))
        cut = space if space > start else cut
        piece = strip_range(text, start, cut)
        if piece[1] > piece[0]:
            out.append(piece)
        start, _ = strip_range(text, cut, end)
    if end > start:
        out.append((start, end))
    return out


def _logical_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a paragraph at line breaks that end a line without sentence punctuation
    followed by a line of its own (a headline or subtitle), keep soft-wrapped lines together.

    A paragraph of three or more lines, none longer than ``WRAP_WIDTH``, is hard-wrapped text
    (newswire wraps at 60-80 characters): its line breaks are all soft. A line that starts with
    white space starts a new logical line (an indented paragraph, a table row).
    """
    lines = []
    cursor = start
    while True:
        newline = text.find("\n", cursor, end)
        if newline == -1:
            lines.append((cursor, end))
            break
        lines.append((cursor, newline))
        cursor = newline + 1
    wrapped = len(lines) >= 3 and max(e - s for s, e in lines) <= WRAP_WIDTH
    groups: list[tuple[int, int]] = []
    for raw_start, raw_end in lines:
        l_start, l_end = strip_range(text, raw_start, raw_end)
        if l_end <= l_start:
            continue
        indented = l_start > raw_start
        if groups and not indented and (
                wrapped or not _is_standalone_line(text[groups[-1][0]:groups[-1][1]], text[l_start:l_end])):
            groups[-1] = (groups[-1][0], l_end)
        else:
            groups.append((l_start, l_end))
    return groups


WRAP_WIDTH = 100  # a paragraph of 3+ lines none longer than this is hard-wrapped text
# Headlines: one rule for the digest splitter (rag/ingest/bulletins.py) and for lines inside a paragraph here.
# A line without closing punctuation is a headline when it is short and the text does not run on
# from it into the next line (``runs_on``).
MAX_HEADLINE_WORDS = 40  # a longer line is a paragraph even without closing punctuation
MAX_INLINE_HEADLINE_WORDS = 16  # inside a paragraph, a longer unpunctuated line is running text
# Words a headline does not end on but a hard-wrapped line of running text often does.
RUN_ON_WORDS = frozenset("a an the of to in on for and or but nor with by at from as into than that which who "
                         "whose its their his her our is are was were be been has have had will would".split())


def runs_on(line: str, following: str) -> bool:
    """Whether running text continues from ``line`` into the next line, ``following``: hard-wrapped
    newswire ("The U.S. Agriculture Department" / "reported the ...") goes on in lower case or
    breaks after a word like "the". Such a line is never a headline."""
    return following[:1].islower() or line.rsplit(None, 1)[-1].lower() in RUN_ON_WORDS


def _is_standalone_line(line: str, following: str) -> bool:
    """A line that ends with sentence punctuation, or a headline (short, no closing punctuation,
    not running on into ``following``)."""
    stripped = line.rstrip()
    if not stripped:
        return True
    if stripped[-1] in ".!?;:\"'”’)":
        return True
    if len(stripped.split()) > MAX_INLINE_HEADLINE_WORDS:
        return False
    return not runs_on(stripped, following)


def _segment(text: str, start: int, end: int, language: str) -> list[tuple[int, int]]:
    # pysbd ends a sentence at every line break; inside a logical line they are soft wraps
    # (same length, so offsets into ``piece`` are offsets into ``text``)
    piece = text[start:end].replace("\r\n", "  ").replace("\n", " ").replace("\r", " ")
    try:
        spans = _segmenter(language).segment(piece)
    except Exception:  # pysbd fails on a few pathological inputs; keep the line whole
        return [(start, end)]
    out = []
    cursor = 0
    for span in spans:
        sent = span.sent
        found = piece.find(sent, cursor) if sent else -1
        if found == -1:  # pysbd offsets can drift; fall back to its own span
            found = max(span.start, cursor)
            sent_end = max(span.end, found)
        else:
            sent_end = found + len(sent)
        s, e = strip_range(piece, found, min(sent_end, len(piece)))
        if e > s:
            out.append((start + s, start + e))
        cursor = max(cursor, sent_end)
    if not out:
        return [(start, end)]
    # Anything pysbd skipped stays attached to the sentence before it, and so does a piece with
    # no letter or digit (a closing quote pysbd cut off: 'act now.' + '"').
    merged = [out[0]]
    for s, e in out[1:]:
        if not any(ch.isalnum() for ch in piece[s - start:e - start]):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((max(s, merged[-1][1]), e))
    return merged


_WORD = re.compile(r"[\w][\w'’\-\.]*\w|\w", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens of a normalised copy of ``text``."""
    return [w.replace("’", "'") for w in _WORD.findall(normalize(text))]
