"""A question parsed once: its language, the words scoring matches, the kind of phrase it asks for.

Sentence scoring (rag/answer/select.py), the span picker (rag/answer/span.py) and the answer model read the same
``Question``, built by ``parse_question`` before any sentence is looked at, so nothing about the
question is derived again per candidate sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.answer.multilingual import latin_part, question_language, span_question
from rag.search.bm25 import terms

# The words that make a sentence a question rather than say what it is about: who/what/when...,
# "how many", and the auxiliaries a question opens with. Scoring leaves them out of the words a
# sentence must contain; follow-up detection (rag/answer/followup.py) leaves them out of a turn's own words.
QUESTION_WORDS = frozenset("who whom whose what which when where why how many much did does do is are was were "
                           "can".split())
QUESTION_TERMS = frozenset(terms(" ".join(sorted(QUESTION_WORDS))))

# The kind of phrase a wh-phrase asks for; the first said wins ("Where ... when ..." asks for a place).
_KINDS = [
    ("date", re.compile(r"\b(when|what (year|date|day|month)|which (year|date|day|month)|since when|by when)\b")),
    ("number", re.compile(r"\b(how (many|much|large|big|far|long|high|old)|what (percentage|share|proportion|"
                          r"amount|number|rate|volume)|what (was|is|were|are) the (rate|share|volume|number|"
                          r"amount|turnover|percentage))\b")),
    ("place", re.compile(r"\b(where|(in|at) (which|what) (city|country|place|town|province)|"
                         r"which (city|country|town|province))\b")),
    ("agent", re.compile(r"\b(who|whom|whose|which (organisation|organization|ministry|body|agency|department|"
                         r"institute|company))\b")),
]
# "Which ministry ...?": the noun names the kind of answer, so an answer may (should) say it.
_TYPE_NOUN = re.compile(r"\b(?:which|what)[ \u00a0]+([a-z]+)", re.IGNORECASE)


def question_type(question: str) -> str:
    """The kind of phrase asked for: ``agent``, ``place``, ``date``, ``number``, or ``thing``."""
    q = question.lower()
    found = [(m.start(), order, kind) for order, (kind, pattern) in enumerate(_KINDS) if (m := pattern.search(q))]
    return min(found)[2] if found else "thing"


@dataclass(frozen=True)
class Question:
    """What every answer step reads about a question.

    ``text`` is what scoring and the span picker match: an English question as asked; another
    language's, its Latin-script words after the English wh-phrase of the kind it asks for
    (``multilingual.span_question``), or those words alone. ``asked`` is the question as typed.
    """

    asked: str
    text: str
    lang: str  # "en" or "zh"
    kind: str  # question_type(text)
    terms: frozenset[str]  # every term of ``text``
    content_terms: frozenset[str]  # the terms that are not question words: what a sentence should say
    type_terms: frozenset[str]  # the terms of the noun after "which"/"what" ("ministry")
    spans: bool  # whether a short answer span may be given (not for a Chinese "what" or "why")
    vector: np.ndarray | None = None  # the query embedding, when computed

    @property
    def typed(self) -> bool:
        """It asks for a kind of phrase the span picker knows (who, where, when, how many)."""
        return self.kind != "thing"


def parse_question(asked: str, vector: np.ndarray | None = None) -> Question:
    """The ``Question`` for ``asked`` (already stripped), with its query ``vector`` if known."""
    lang = question_language(asked)
    stand_in = span_question(asked) if lang != "en" else None
    text = asked if lang == "en" else (stand_in if stand_in is not None else latin_part(asked))
    all_terms = terms(text)
    type_noun = _TYPE_NOUN.search(text)
    return Question(asked=asked, text=text, lang=lang, kind=question_type(text), terms=frozenset(all_terms),
                    content_terms=frozenset(t for t in all_terms if t not in QUESTION_TERMS),
                    type_terms=frozenset(terms(type_noun.group(1))) if type_noun else frozenset(),
                    spans=lang == "en" or stand_in is not None, vector=vector)
