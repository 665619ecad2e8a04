"""Atomic disk writes: temporary file in the same folder, fsync, then os.replace."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def format_bulletin(title: str, text: str, date: str | None = None) -> str:
    """A bulletin as a file holds it: the headline line (then its date line, if any), a blank line,
    the text. ``rag.ingest.bulletins`` reads the headline back as the title and the date as stated."""
    header = "\n".join(line for line in (title, date) if line)
    return f"{header}\n\n{text}\n" if header else f"{text}\n"


def write_bulletin(path: Path, title: str, text: str, date: str | None = None) -> None:
    """Write one bulletin file (a generated corpus: eval suites, benchmarks, tests). Not durable:
    what must survive a crash (an upload) goes through ``write_atomic``."""
    Path(path).write_text(format_bulletin(title, text, date), encoding="utf-8")


def write_json_atomic(path: Path, value: object, compact: bool = False) -> None:
    """``compact`` drops the indentation: for large machine-read files, about twice as fast to write."""
    write_atomic(path, json_bytes(value, compact))


def json_bytes(value: object, compact: bool = False) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if compact else \
        json.dumps(value, ensure_ascii=False, indent=1)
    return text.encode("utf-8")


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_durably(path: Path) -> None:
    """Delete ``path`` and make the deletion survive a power loss."""
    Path(path).unlink()
    fsync_dir(Path(path).parent)


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Delete the temporary files ``write_atomic`` left in ``folder`` when a process was killed
    mid-write; call it before any writer starts. Returns their names."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except OSError:
                pass
    if removed:
        fsync_dir(folder)
    return removed
