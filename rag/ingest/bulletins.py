"""Split a file's text into bulletins: where each starts, its headline, and the date it states.

Real digests mark a new bulletin with signals of different strength, used in this order:
- Markdown headings: the file's top heading level starts bulletins; deeper levels are sections.
- Front matter (``---`` ... ``---`` with ``title:`` and ``date:``) names a one-bulletin file.
- A run of blank lines longer than the file's usual gap between paragraphs, before a line that
  can be a headline.
- A headline after a single blank line: one line with no closing punctuation, shorter than the
  file's paragraphs, after a paragraph that ends a sentence and before a body. A second such
  line right after a headline is its subtitle, not a bulletin.
A one-line first block that ends with a full stop is a headline only when a longer paragraph
follows (scientific titles end with one); it then stays in the body too, so a one-sentence lede
mistaken for a headline still reaches the index.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from dataclasses import dataclass

from rag.dates import find_date, leading_year, stated_year
from rag.records import Bulletin
from rag.text import MAX_HEADLINE_WORDS, runs_on, slug, strip_range

_SENTENCE_END = ".!?。！？…"
_NOT_HEADLINE_END = _SENTENCE_END + ";:,；：，"
_CLOSERS = "\"'”’)]»」』"
_HEADING = re.compile(r"(#{1,6})[ \t]+\S")
_FRONT_MATTER_FIELD = re.compile(r"(?P<key>[A-Za-z_]+)[ \t]*:[ \t]*(?P<value>.*?)[ \t]*")


@dataclass(frozen=True)
class _Block:
    """A run of non-blank lines: its range and how many blank lines come before it."""

    start: int
    end: int
    blanks: int
    lines: int


def split_bulletins(text: str, source: str, fallback_title: str = "", single: bool = False,
                    year: int | None = None) -> list[Bulletin]:
    """The bulletins of one file, each with its headline, exact range and stated date.

    ``fallback_title`` names a bulletin that has no headline; ``single`` keeps the whole file
    as one bulletin (uploads). Dates without a year take the year the file states in a full date
    (or its front matter), else ``year`` (the operator's), else stay partial (``--03-01``).
    """
    meta, offset = _front_matter(text)
    blocks = _blocks(text, offset)
    if not blocks:
        return []
    if single:
        starts = [0]
    elif _heading_level(text, blocks):
        starts = _markdown_starts(text, blocks)
    else:
        starts = _plain_starts(text, blocks)
    year = leading_year(meta.get("date", "")) or stated_year(text) or year
    bulletins: list[Bulletin] = []
    seen: dict[str, int] = {}
    for n, (a, b) in enumerate(zip(starts, starts[1:] + [len(blocks)])):
        start, end = blocks[a].start, blocks[b - 1].end
        headline = _headline(text, blocks, a, b)
        if headline is not None:
            title = clean_title(text[headline[0]:headline[1]])
        else:
            title = (n == 0 and meta.get("title")) or fallback_title or clean_title(_first_line(text, start, end))[:80]
        stated = find_date(text[start:end], year)
        if n == 0 and len(starts) == 1 and not stated and meta.get("date"):
            stated = find_date(meta["date"], year)
        bulletins.append(Bulletin(_bulletin_id(source, title, seen), title, source, start, end, stated))
    return bulletins


def body_range(text: str, bulletin: Bulletin) -> tuple[int, int]:
    """The bulletin without its headline line; a subtitle, and a headline that ends with a full
    stop (it may be the lede), stay in the body."""
    first = _first_line(text, bulletin.char_start, bulletin.char_end)
    if clean_title(first) != bulletin.title or not (_is_heading(first) or _unpunctuated(first)):
        return bulletin.char_start, bulletin.char_end
    newline = text.find("\n", bulletin.char_start, bulletin.char_end)
    if newline == -1:
        return bulletin.char_end, bulletin.char_end
    return strip_range(text, newline + 1, bulletin.char_end)


def clean_title(line: str) -> str:
    """A headline line as a title: Markdown marks and runs of white space (non-breaking too) removed."""
    return " ".join(line.strip().lstrip("\ufeff").lstrip("#").split())


def _plain_starts(text: str, blocks: list[_Block]) -> list[int]:
    gap = _usual_gap(blocks)
    paragraph = _usual_paragraph_length(text, blocks)
    starts = [0]
    for i in range(1, len(blocks)):
        block, line = blocks[i], _first_line(text, blocks[i].start, blocks[i].end)
        after_headline = starts[-1] == i - 1 and _headline(text, blocks, i - 1, len(blocks)) is not None
        if after_headline and block.lines == 1 and _unpunctuated(line):
            continue  # a subtitle
        if block.blanks >= 2 and block.blanks > gap:
            if _headline(text, blocks, i, len(blocks)) is not None:
                starts.append(i)
        elif (block.lines == 1 and _unpunctuated(line) and block.end - block.start < paragraph
              and _ends_sentence(text, blocks[i - 1]) and _body_follows(text, blocks, i)):
            starts.append(i)
    return starts


def _markdown_starts(text: str, blocks: list[_Block]) -> list[int]:
    level = _heading_level(text, blocks)
    starts = [i for i, b in enumerate(blocks) if _heading_depth(_first_line(text, b.start, b.end)) == level]
    return starts if starts and starts[0] == 0 else [0] + starts


def _headline(text: str, blocks: list[_Block], a: int, b: int) -> tuple[int, int] | None:
    """Range of the headline line that opens ``blocks[a:b]``, if it has one."""
    block = blocks[a]
    newline = text.find("\n", block.start, block.end)
    line_end = block.end if newline == -1 else newline
    start, end = strip_range(text, block.start, line_end)
    line = text[start:end]
    if _is_heading(line):
        return start, end
    if len(line.split()) > MAX_HEADLINE_WORDS:
        return None
    if _unpunctuated(line):
        if block.lines > 1:  # a hard-wrapped paragraph runs on into its next line
            if runs_on(line, text[line_end + 1:block.end].lstrip()):
                return None
        return start, end
    if block.lines == 1 and b - a >= 2 and line[-1:] in "." and \
            blocks[a + 1].end - blocks[a + 1].start > 2 * (end - start):
        return start, end  # a title that ends with a full stop, before a longer paragraph
    return None


def _body_follows(text: str, blocks: list[_Block], i: int) -> bool:
    """A paragraph follows the line at ``blocks[i]``, maybe after a subtitle line."""
    for j in (i + 1, i + 2):
        if j >= len(blocks):
            return False
        if not (blocks[j].lines == 1 and _unpunctuated(_first_line(text, blocks[j].start, blocks[j].end))):
            return True
    return False


def _unpunctuated(line: str) -> bool:
    """No closing punctuation (after closing quotes): a headline, not the end of a sentence."""
    stripped = line.rstrip().rstrip(_CLOSERS).rstrip()
    return bool(stripped) and stripped[-1] not in _NOT_HEADLINE_END and len(line.split()) <= MAX_HEADLINE_WORDS


def _ends_sentence(text: str, block: _Block) -> bool:
    return text[block.start:block.end].rstrip().rstrip(_CLOSERS)[-1:] in _SENTENCE_END


def _usual_gap(blocks: list[_Block]) -> int:
    """The most common run of blank lines between paragraphs (the smaller on a tie)."""
    gaps = [b.blanks for b in blocks[1:]]
    return min(statistics.multimode(gaps)) if gaps else 1


def _usual_paragraph_length(text: str, blocks: list[_Block]) -> float:
    """Median length of the blocks that end a sentence: a headline is shorter than that."""
    lengths = [b.end - b.start for b in blocks if _ends_sentence(text, b)]
    return statistics.median(lengths) if lengths else float("inf")


def _heading_level(text: str, blocks: list[_Block]) -> int:
    """The top Markdown heading level used in the file (1-6), or 0 if it has none."""
    depths = [d for b in blocks if (d := _heading_depth(_first_line(text, b.start, b.end)))]
    return min(depths, default=0)


def _heading_depth(line: str) -> int:
    match = _HEADING.match(line)
    return len(match.group(1)) if match else 0


def _is_heading(line: str) -> bool:
    return _heading_depth(line) > 0


def _front_matter(text: str) -> tuple[dict[str, str], int]:
    """``title``/``date`` of a leading ``---`` block of ``key: value`` lines, and where the text
    after it starts (just past a byte-order mark when there is none)."""
    offset = 1 if text.startswith("\ufeff") else 0
    first = text.find("\n", offset)
    if first == -1 or text[offset:first].strip() != "---":
        return {}, offset
    fields: dict[str, str] = {}
    pos = first + 1
    while pos < len(text):
        newline = text.find("\n", pos)
        line = text[pos:len(text) if newline == -1 else newline].rstrip("\r")
        if line.strip() == "---":
            return fields, len(text) if newline == -1 else newline + 1
        match = _FRONT_MATTER_FIELD.fullmatch(line)
        if match:
            fields[match.group("key").lower()] = match.group("value").strip("\"'")
        elif line.strip() and not line.startswith((" ", "\t", "-")):
            return {}, offset  # not front matter: a horizontal rule and prose
        if newline == -1:
            break
        pos = newline + 1
    return {}, offset


def _blocks(text: str, offset: int = 0) -> list[_Block]:
    """Runs of non-blank lines from ``offset`` on."""
    blocks = []
    blanks = lines = 0
    block_start = content_end = None
    pos = offset
    for line in text[offset:].splitlines(keepends=True):
        if line.strip():
            if block_start is None:
                block_start, before, lines = pos, blanks, 0
            content_end = pos + len(line.rstrip())
            lines += 1
        else:
            if block_start is not None:
                blocks.append(_Block(*strip_range(text, block_start, content_end), before, lines))
                block_start, blanks = None, 0
            blanks += 1
        pos += len(line)
    if block_start is not None:
        blocks.append(_Block(*strip_range(text, block_start, content_end), before, lines))
    return blocks


def _first_line(text: str, start: int, end: int) -> str:
    newline = text.find("\n", start, end)
    return text[start:end if newline == -1 else newline].strip()


def _bulletin_id(source: str, title: str, seen: dict[str, int]) -> str:
    digest = hashlib.sha1(f"{source}\n{title}".encode("utf-8", "surrogatepass")).hexdigest()[:6]
    bid = f"{slug(title, 48) or 'bulletin'}-{digest}"
    seen[bid] = seen.get(bid, 0) + 1
    return bid if seen[bid] == 1 else f"{bid}-{seen[bid]}"
