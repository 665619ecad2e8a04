"""A progress bar on stderr for long index builds (``Progress`` callbacks of ``rag.indexing``)."""

from __future__ import annotations

import sys


UNITS = {"splitting": "file", "embedding": "chunk"}


class ProgressBar:
    """A tqdm bar per stage ("splitting", "embedding", "saving"), opened at the stage's first report."""

    def __init__(self, prefix: str = "index: "):
        self._prefix = prefix
        self._bar = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total, desc=f"{self._prefix}{stage}", unit=UNITS.get(stage, "step"), file=sys.stderr,
                             leave=False)
        if self._bar is not None:
            self._bar.n = done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
