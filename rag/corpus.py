"""Read bulletin files and split digests into bulletins with exact character ranges."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import CorpusError
from .records import Bulletin
from .text import normalize, strip_range

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")
_MAX_HEADLINE_WORDS = 20
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        ["jan january", "feb february", "mar march", "apr april", "may", "jun june", "jul july",
         "aug august", "sep sept september", "oct october", "nov november", "dec december"]
    )
    for m in names.split()
}
_DATE = re.compile(
    r"\b(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)?(?:,?\s+(?P<year>(?:19|20)\d\d))?\b"
    r"|\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SourceFile:
    """One corpus file: the path shown to users and its exact decoded text."""

    source: str
    path: Path
    text: str
    single: bool = False  # one bulletin per file (uploads): never split at headlines


def display_source(path: Path, root: Path) -> str:
    """Path as users see it: relative to ``root`` when inside it, else as configured."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def read_corpus(folder: Path, display_root: Path, single: bool = False,
                max_bytes: int = 20_000_000) -> list[SourceFile]:
    """Every ``.txt``/``.md`` file under ``folder``, sorted.

    Files that are not bulletins (empty, binary, undecodable, over ``max_bytes``, or links that
    lead out of the folder) are skipped with a one-line warning naming the file and the reason.
    Symbolic links to folders are not followed. (Plain strings and ``os.scandir``: with pathlib
    objects, listing 20k files took 5 s.)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"seeds folder not found: {folder} (set --seeds or RAG_SEEDS)")
    root = os.path.realpath(folder)
    prefix = display_source(folder, display_root)
    files = []
    for relative, entry in sorted(_listing(str(folder)), key=lambda item: item[0].split("/")):
        path = folder / relative
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if not target.startswith(root + os.sep):
                log.warning("skipping %s: it links outside the corpus folder", path)
                continue
            if not os.path.isfile(target):
                continue
            size = os.stat(target).st_size
        elif entry.is_file(follow_symlinks=False):
            size = entry.stat(follow_symlinks=False).st_size
        else:
            continue
        if size > max_bytes:
            log.warning("skipping %s: %d bytes is over the %d-byte limit (RAG_MAX_FILE_BYTES)", path, size, max_bytes)
            continue
        found = read_source(path, f"{prefix}/{relative}", single)
        if found is not None:
            files.append(found)
    return files


def _listing(folder: str) -> list[tuple[str, os.DirEntry]]:
    """(path relative to ``folder`` with ``/``, entry) of the candidate files; hidden names and
    symbolic links to folders are not entered."""
    found, pending = [], [""]
    while pending:
        relative = pending.pop()
        with os.scandir(os.path.join(folder, relative) if relative else folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                name = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append(name)
                elif os.path.splitext(entry.name)[1].lower() in SUFFIXES:
                    found.append((name, entry))
    return found


def read_source(path: Path, source: str, single: bool = False) -> SourceFile | None:
    """One corpus file shown to users as ``source``, or ``None`` (with a warning) if it is not text."""
    text = read_text(path)
    return None if text is None else SourceFile(source, path, text, single)


def read_text(path: Path) -> str | None:
    """Decode a file exactly (no newline translation); ``None`` with a warning if it is not text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        log.warning("skipping %s: the file is empty", path)
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            log.warning("skipping %s: invalid UTF-16", path)
            return None
    if b"\x00" in data[:4096]:
        log.warning("skipping %s: binary file", path)
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    log.warning("skipping %s: not UTF-8, UTF-16 or GB18030 text", path)
    return None


def split_bulletins(text: str, source: str, fallback_title: str = "", single: bool = False) -> list[Bulletin]:
    """Split a file into bulletins: a headline line, optional subtitle, then paragraphs.

    A new bulletin starts at a headline after two or more blank lines, or after one blank
    line when the block's first line reads as a headline (short, no closing punctuation).
    A file without a headline is one bulletin titled ``fallback_title``; so is every
    file when ``single``.
    """
    blocks = _blocks(text)
    if not blocks:
        return []
    starts = [0]
    for i in range(1, 0 if single else len(blocks)):
        b_start, b_end, blanks_before = blocks[i]
        first_line = _first_line(text, b_start, b_end)
        if _is_headline(first_line) and (
            blanks_before >= 2 or _block_ends_sentence(text, blocks[i - 1])
        ) and i - 1 not in starts:
            starts.append(i)
    starts.append(len(blocks))
    default_year = _file_year(text)
    bulletins: list[Bulletin] = []
    seen: dict[str, int] = {}
    for a, b in zip(starts, starts[1:]):
        start, end = blocks[a][0], blocks[b - 1][1]
        first_line = _first_line(text, start, end)
        title = _clean_title(first_line) if _is_headline(first_line) else (fallback_title or _clean_title(first_line)[:80])
        bid = _bulletin_id(source, title, seen)
        bulletins.append(Bulletin(bid, title, source, start, end, find_date(text[start:end], default_year)))
    return bulletins


def body_range(text: str, bulletin: Bulletin) -> tuple[int, int]:
    """The bulletin without its headline line (the subtitle, if any, stays in the body)."""
    first_line = _first_line(text, bulletin.char_start, bulletin.char_end)
    if not _is_headline(first_line):
        return bulletin.char_start, bulletin.char_end
    newline = text.find("\n", bulletin.char_start, bulletin.char_end)
    if newline == -1:
        return bulletin.char_end, bulletin.char_end
    return strip_range(text, newline + 1, bulletin.char_end)


def find_date(text: str, default_year: int | None = None) -> str | None:
    """First date the text states ("On March 1, 2023", "2023-03-01"), as ISO; year from the file if omitted."""
    for match in _DATE.finditer(normalize(text)):
        if match.group("iso"):
            try:
                return date.fromisoformat(match.group("iso")).isoformat()
            except ValueError:
                continue
        year = int(match.group("year")) if match.group("year") else default_year
        if year is None:
            continue
        try:
            return date(year, _MONTHS[match.group("month").lower()], int(match.group("day"))).isoformat()
        except ValueError:
            continue
    return None


def file_hash(f: SourceFile) -> str:
    """Hash of a file's text and how it is split."""
    return hashlib.sha1(f"{int(f.single)}\0{f.text}".encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint_hashes(file_hashes: dict[str, str]) -> str:
    """Hash of every file's path and ``file_hash``: changes when the corpus changes. Independent
    of order, so an index that grows by one file can say what it holds without reading the others."""
    digest = hashlib.sha256()
    for source in sorted(file_hashes):
        digest.update(f"{source}\0{file_hashes[source]}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _blocks(text: str) -> list[tuple[int, int, int]]:
    """Runs of non-blank lines as (start, end, blank lines before)."""
    blocks = []
    blanks = 0
    block_start = None
    pos = 0
    for line in text.splitlines(keepends=True):
        line_end = pos + len(line)
        if line.strip():
            if block_start is None:
                block_start = pos
                blanks_before = blanks
            content_end = pos + len(line.rstrip())
        else:
            if block_start is not None:
                blocks.append((block_start, content_end, blanks_before))
                block_start = None
                blanks = 0
            blanks += 1
        pos = line_end
    if block_start is not None:
        blocks.append((block_start, content_end, blanks_before))
    return [(*strip_range(text, s, e), n) for s, e, n in blocks]


def _first_line(text: str, start: int, end: int) -> str:
    newline = text.find("\n", start, end)
    return text[start:end if newline == -1 else newline].strip()


def _is_headline(line: str) -> bool:
    line = line.lstrip("#").strip()
    if not line or len(line.split()) > _MAX_HEADLINE_WORDS:
        return False
    return line[-1] not in ".!?;:,。！？；：，"


def _block_ends_sentence(text: str, block: tuple[int, int, int]) -> bool:
    """A previous block that ends like prose: the headline after it starts a new bulletin."""
    return text[block[0]:block[1]].rstrip()[-1:] in (".", "!", "?", "”", '"', ")", "。", "！", "？")


def _clean_title(line: str) -> str:
    return " ".join(line.lstrip("#").split())


def _file_year(text: str) -> int | None:
    for match in _DATE.finditer(normalize(text)):
        if match.group("year"):
            return int(match.group("year"))
        if match.group("iso"):
            return int(match.group("iso")[:4])
    return None


def _bulletin_id(source: str, title: str, seen: dict[str, int]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", normalize(title)).strip("-")[:48].strip("-") or "bulletin"
    digest = hashlib.sha1(f"{source}\n{title}".encode("utf-8", "surrogatepass")).hexdigest()[:6]
    bid = f"{slug}-{digest}"
    seen[bid] = seen.get(bid, 0) + 1
    return bid if seen[bid] == 1 else f"{bid}-{seen[bid]}"
