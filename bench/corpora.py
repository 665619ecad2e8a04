"""Turn a benchmark corpus into bulletin files: a seeds folder, a JSONL of stories, or a BEIR folder.

Stories become one bulletin file each (headline line, blank line, body), which is what
``rag index --seeds`` reads, so the benchmarks measure the same path as the service.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from rag.fileio import write_bulletin


@dataclass(frozen=True)
class Story:
    id: str
    title: str
    body: str


def is_bulletin_folder(path: Path) -> bool:
    return path.is_dir() and not (path / "corpus.jsonl").is_file()


def read_stories(path: Path, limit: int | None = None) -> list[Story]:
    """Stories of a JSONL file (``newid``/``title``/``body``, as Reuters-21578) or a BEIR folder."""
    path = Path(path)
    beir = path.is_dir()
    source = path / "corpus.jsonl" if beir else path
    stories: list[Story] = []
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(stories) >= limit:
                break
            record = json.loads(line)
            body = (record.get("text") if beir else record.get("body")) or ""
            if not body.strip():
                continue
            sid = str(record.get("_id") if beir else record.get("newid", len(stories)))
            title = " ".join((record.get("title") or "").split()) or body.split(".")[0][:80]
            stories.append(Story(sid, title, body.strip()))
    return stories


def write_bulletins(stories: list[Story], folder: Path) -> Path:
    """One ``.txt`` file per story in ``folder`` (made if missing); returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for n, story in enumerate(stories):
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", story.id)[:60]
        write_bulletin(folder / f"{n:06d}-{name}.txt", story.title, story.body)
    return folder


def bulletin_folder(corpus: Path, workdir: Path, limit: int | None = None) -> Path:
    """A folder of bulletin files for ``corpus``: the folder itself, or stories written to ``workdir``."""
    corpus = Path(corpus)
    if is_bulletin_folder(corpus):
        return corpus
    return write_bulletins(read_stories(corpus, limit), Path(workdir) / "bulletins")
