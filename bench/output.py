"""How every benchmark ends: its report as JSON (also into ``--out``), then a one-line summary."""

from __future__ import annotations

import json
from pathlib import Path

from rag.fileio import write_atomic


def check_out(parser, out: Path | None) -> None:
    """Refuse an ``--out`` that cannot take the report before the benchmark runs, not after
    (``parser.error``: one line, exit 2)."""
    if out is None:
        return
    if Path(out).is_dir():
        parser.error(f"--out {out} is a folder: give the file the JSON goes into")
    if not Path(out).parent.is_dir():
        parser.error(f"--out {out}: the folder {Path(out).parent} does not exist")


def emit(report: dict, out: Path | None, summary: str) -> None:
    """``out`` is written whole or not at all (an interrupted write leaves the old file)."""
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        write_atomic(Path(out), (text + "\n").encode("utf-8"))
    print(summary)
