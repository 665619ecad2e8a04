"""A progress bar on stderr for long index builds (``Progress`` callbacks of ``rag.index.build``)."""

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
            # a terminal is redrawn a few times a second; a log file gets a line every 10 s
            self._bar = tqdm(total=total, desc=f"{self._prefix}{stage}", unit=UNITS.get(stage, "step"), file=sys.stderr,
                             leave=False, mininterval=0.2 if sys.stderr.isatty() else 10)
        if self._bar is not None and done > self._bar.n:
            self._bar.update(done - self._bar.n)  # drawn at most once per mininterval
            if done >= total:
                self._bar.refresh()  # the end of a stage is always shown

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
