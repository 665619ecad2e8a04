"""Read corpus files: which files are bulletins, their exact decoded text, and their hashes."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest import extract

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = TEXT_SUFFIXES + extract.SUFFIXES


@dataclass(frozen=True)
class SourceFile:
    """One corpus file: the path shown to users and its exact decoded text."""

    source: str
    path: Path
    text: str
    single: bool = False  # one bulletin per file (uploads, PDFs, web pages): never split at headlines
    # For a PDF, web page or Word file: the extracted text's file (``text`` is its content), as
    # users see it and on disk; where each page starts; the file's metadata title.
    extracted_source: str = ""
    extracted_path: Path | None = None
    pages: tuple[int, ...] = ()
    title: str = ""

    @property
    def text_source(self) -> str:
        """The file whose text ``[char_start:char_end]`` slices: this file, or its extracted text."""
        return self.extracted_source or self.source

    def page_of(self, offset: int) -> int | None:
        """The 1-based page of character ``offset`` (PDFs), else ``None``."""
        return extract.page_of(self.pages, offset)


def display_source(path: Path, root: Path) -> str:
    """Path as users see it: relative to ``root`` when inside it, else as configured."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def read_corpus(folder: Path, display_root: Path, single: bool = False,
                max_bytes: int = 20_000_000, extracted: Path | None = None) -> list[SourceFile]:
    """Every ``.txt``/``.md`` file under ``folder``, sorted, and with ``extracted`` (the folder
    that keeps extracted text) every ``.pdf``, ``.html``/``.htm`` and ``.docx`` file too.

    Files that are not bulletins (empty, binary, undecodable, over ``max_bytes``, or links that
    lead out of the folder; encrypted, scanned or corrupt PDFs, pages with no main text) are
    skipped with a one-line warning naming the file and the reason.
    Symbolic links to folders are not followed. (Plain strings and ``os.scandir``: with pathlib
    objects, listing 20k files took 5 s.)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"seeds folder not found: {folder} (set --seeds or RAG_SEEDS)")
    root = os.path.realpath(folder)
    prefix = display_source(folder, display_root)
    files = []
    suffixes = SUFFIXES if extracted is not None else TEXT_SUFFIXES
    for relative, entry in sorted(_listing(str(folder), suffixes), key=lambda item: item[0].split("/")):
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
        try:
            found = read_source(path, f"{prefix}/{relative}", single, extracted, display_root)
        except extract.ExtractionError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        if found is not None:
            files.append(found)
    return files


def _listing(folder: str, suffixes: tuple[str, ...]) -> list[tuple[str, os.DirEntry]]:
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
                elif os.path.splitext(entry.name)[1].lower() in suffixes:
                    found.append((name, entry))
    return found


def read_source(path: Path, source: str, single: bool = False, extracted: Path | None = None,
                display_root: Path | None = None) -> SourceFile | None:
    """One corpus file shown to users as ``source``, or ``None`` (with a warning) if it is not text.

    A PDF, web page or Word file needs ``extracted``, the folder for its extracted text, and
    raises ``extract.ExtractionError`` when it holds no text to cite.
    """
    suffix = path.suffix.lower()
    if suffix in extract.SUFFIXES:
        if extracted is None:
            raise CorpusError(f"{path.name}: {suffix} files need a folder for their extracted text")
        from rag.ingest.extract.cache import extracted_text

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from None
        found, text_path = extracted_text(path, data, extracted)
        return SourceFile(source, path, found.text, single or suffix in extract.SINGLE,
                          display_source(text_path, display_root or Path.cwd()), text_path, found.pages, found.title)
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
