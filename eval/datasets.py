"""Question sets to evaluate on: the project's own, SQuAD v1.1/v2.0, and BEIR retrieval sets.

SQuAD and BEIR are turned into a corpus of bulletin files, one file per paragraph or document,
in a folder the caller owns (a temporary one), so they are indexed exactly like the seeds. A
generated file is a headline line (the article or document title), a blank line, the text.
"""

from __future__ import annotations

import csv
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CorpusError
from rag.fileio import write_bulletin

OWN_QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]  # gold answer strings (empty for unanswerable questions)
    answerable: bool
    relevant: dict[str, float] = field(default_factory=dict)  # document key -> relevance grade
    kind: str = ""
    lang: str = "en"  # the question's language; the bulletins (and gold answers) stay English


@dataclass(frozen=True)
class Suite:
    """A question set and the corpus it is asked against."""

    name: str
    source: str  # the file or folder it came from
    questions: list[Question]
    seeds: Path | None  # the generated corpus folder; ``None``: the configured seeds
    doc_keys: dict[str, str] | None  # corpus file name -> document key; ``None``: bulletin titles
    retrieval_only: bool = False
    remove_gold: bool = False  # ask each question without its gold bulletins: it should be refused

    def doc_key(self, title: str, source: str) -> str:
        """The key a retrieved bulletin is scored by (its title, or the generated file's document id)."""
        if self.doc_keys is None:
            return normalize_ws(title)
        return self.doc_keys.get(Path(source).name, source)


def normalize_ws(text: str) -> str:
    """NFKC and single spaces: how answer strings are matched against the seeds."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def load_questions(path: Path) -> list[Question]:
    """The project's format: one JSON object a line with ``id``, ``question``, ``answers``,
    ``answerable`` and ``bulletin`` (the title of the bulletin that answers it, or null).

    Optional keys: ``also`` (titles of further bulletins a two-bulletin question draws on; they
    count as relevant too), ``kind`` (factual, list, paraphrase, multi, unanswerable-near/far) and
    ``near`` (for an unanswerable-near question, the bulletin it is about; not scored as relevant)
    and ``lang`` (the question's language, default ``"en"``; answers are the bulletins' English).
    """
    questions = []
    for n, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            titles = [t for t in [row.get("bulletin"), *row.get("also", [])] if t]
            questions.append(Question(str(row["id"]), row["question"], tuple(row["answers"]),
                                      bool(row["answerable"]), {normalize_ws(t): 1.0 for t in titles},
                                      row.get("kind", ""), row.get("lang", "en")))
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}, line {n}: not a question record ({exc})") from None
    if not questions:
        raise CorpusError(f"{path} holds no questions (one JSON object a line)")
    return questions


def load_squad(path: Path, folder: Path) -> tuple[list[Question], dict[str, str]]:
    """Write one bulletin file per SQuAD paragraph into ``folder``; questions score their paragraph.

    v2.0 questions marked ``is_impossible`` are unanswerable (they score abstention).
    """
    try:
        data = json.loads(_read(path))["data"]
    except (ValueError, KeyError) as exc:
        raise CorpusError(f"{path} is not a SQuAD JSON file ({exc})") from None
    folder.mkdir(parents=True, exist_ok=True)
    questions, keys = [], {}
    for a, article in enumerate(data):
        title = _headline(article.get("title", "").replace("_", " ")) or f"Article {a + 1}"
        for p, paragraph in enumerate(article["paragraphs"]):
            key = f"p{a:03d}-{p:03d}"
            name = f"{key}.txt"
            write_bulletin(folder / name, title, _one_paragraph(paragraph["context"]))
            keys[name] = key
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = tuple(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                questions.append(Question(str(qa["id"]), qa["question"], () if impossible else answers,
                                          not impossible and bool(answers),
                                          {} if impossible else {key: 1.0}, "squad"))
    return questions, keys


def load_beir(folder: Path, corpus_folder: Path) -> tuple[list[Question], dict[str, str]]:
    """Write one bulletin file per BEIR document into ``corpus_folder``; keep queries with a relevant pair."""
    corpus_folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for i, line in enumerate(_read(folder / "corpus.jsonl").splitlines()):
        if not line.strip():
            continue
        doc = json.loads(line)
        name = f"d{i:06d}.txt"
        title = _headline(doc.get("title") or "") or "Document"
        write_bulletin(corpus_folder / name, title, _one_paragraph(doc.get("text") or title))
        keys[name] = str(doc["_id"])
    qrels: dict[str, dict[str, float]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if float(row["score"]) > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = float(row["score"])
    questions = []
    for line in _read(folder / "queries.jsonl").splitlines():
        if line.strip():
            query = json.loads(line)
            qid = str(query["_id"])
            if qid in qrels:
                questions.append(Question(qid, query["text"], (), True, qrels[qid], "beir"))
    return questions, keys


def sample(questions: list[Question], n: int | None, seed: int = 0) -> list[Question]:
    """``n`` questions drawn with ``random.Random(seed)`` (all of them, in order, when ``n`` is None)."""
    if n is None or n >= len(questions):
        return questions
    return random.Random(seed).sample(questions, n)


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from None


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


def _headline(title: str) -> str:
    """A title that reads as a headline line: one line, no closing punctuation."""
    return re.sub(r"[.!?;:,]+$", "", " ".join(title.split()))
