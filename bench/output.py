"""How every benchmark ends: its report as JSON (also into ``--out``), then a one-line summary."""

from __future__ import annotations

import json
from pathlib import Path


def emit(report: dict, out: Path | None, summary: str) -> None:
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")
    print(summary)
