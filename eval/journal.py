"""An evaluation's scored questions, written down as they are made, so that a stopped run can go
on (``rag eval --resume``, ``eval.answer_sweep --resume``) instead of asking every question again.

``OUT/progress.jsonl`` for `rag eval` (``ROWS.progress.jsonl`` for a sweep): a header line with what
decides the scores (the options and the settings that change answers), then one line per question
scored in one column of one suite. A run killed
mid-line leaves at most a partial last line, which a resumed run drops. A resumed run with other
options is refused: mixing the records of two configurations would report neither.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rag.config import Settings
from rag.errors import RagError
from rag.fileio import write_atomic

FILE_NAME = "progress.jsonl"
# The settings that change a question's scores (secrets and server limits stay out of the file).
SCORED_SETTINGS = ("model_name", "backend", "chunk_tokens", "chunk_overlap", "top_k", "hybrid_weight",
                   "max_sentences", "abstain_threshold", "cross_lingual_threshold", "answerer", "answer_model",
                   "answer_candidates", "model_threshold", "span_threshold", "query_precision", "seeds", "index")


def fingerprint(options, settings: Settings) -> dict:
    """What a resumed `rag eval` must share with the stopped one: the ``EvalOptions`` but where the
    report goes and whether to resume, and the ``SCORED_SETTINGS``."""
    chosen = {k: str(v) for k, v in asdict(options).items() if k not in ("out", "resume")}
    return {"options": chosen, "settings": scored_settings(settings)}


def scored_settings(settings: Settings) -> dict[str, str]:
    return {k: str(getattr(settings, k)) for k in SCORED_SETTINGS}


class Journal:
    """The records of one run in the file ``path``, by suite, column and question (its id and text:
    two question files may reuse an id); ``resume`` reads those already there, otherwise a new
    journal starts."""

    def __init__(self, path: Path, header: dict, resume: bool):
        self.path = Path(path)
        self.done: dict[tuple[str, str, str, str], dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.is_file():
            lines, rows = _whole_lines(self.path)
            first = rows[0] if rows else {}
            stopped = first.get("header") if isinstance(first, dict) else None
            if not isinstance(stopped, dict):
                raise RagError(f"{self.path} is not a rag eval journal: drop --resume to start again")
            differ = _differences(stopped, header)
            if differ:
                raise RagError(f"{self.path} was written by a run with other {', '.join(differ)}: "
                               "rerun with those, or drop --resume to start again")
            for row in rows[1:]:
                try:
                    self.done[(row["suite"], row["column"], row["record"]["id"], row["question"])] = row["record"]
                except (KeyError, TypeError):
                    raise RagError(f"{self.path} is damaged (a line that is not a scored question): "
                                   "drop --resume to start again") from None
            write_atomic(self.path, "".join(line + "\n" for line in lines).encode("utf-8"))
        else:
            write_atomic(self.path, (json.dumps({"header": header}) + "\n").encode("utf-8"))
        self._file = open(self.path, "a", encoding="utf-8")

    def get(self, suite: str, column: str, question_id: str, question: str) -> dict | None:
        return self.done.get((suite, column, question_id, question))

    def add(self, suite: str, column: str, question: str, record: dict) -> None:
        """``record`` must hold the question's ``id``."""
        line = {"suite": suite, "column": column, "question": question, "record": record}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()  # a kill loses at most the question being written

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _differences(stopped: dict, header: dict) -> list[str]:
    """The options and settings whose values differ between two headers."""
    names = []
    for part in ("options", "settings"):
        before = stopped.get(part) if isinstance(stopped.get(part), dict) else {}
        names += [k for k in sorted({*before, *header[part]}) if before.get(k) != header[part].get(k)]
    return names


def _whole_lines(path: Path) -> tuple[list[str], list]:
    """The journal's complete lines and what each holds, read once: a partial last line (a kill
    while writing) is left out."""
    # the text after the last newline is never a whole record
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]
    try:
        return lines, [json.loads(line) for line in lines]
    except ValueError:
        raise RagError(f"{path} is damaged (a line that is not JSON): drop --resume to start again") from None
