"""Follow-up questions: make the last user turn self-contained using the earlier turns."""

from __future__ import annotations

import re

from rag.answer.question import QUESTION_TERMS, QUESTION_WORDS
from rag.inputs import is_blank, strip_blank
from rag.search.bm25 import terms

_ANAPHORA = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|he|him|his|she|her|hers|this|that|these|those|there|"
    r"the same|the (committee|report|meeting|market|plan|guidelines|ministry|panel|administration|bulletin))\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(r"^\s*(and|also|but|what about|how about|and what|then)\b", re.IGNORECASE)
_ENTITY = re.compile(r"[A-Z][\w'’\-]*(?:[ \u00a0]+(?:(?:of|the|and|for|on)[ \u00a0]+)*[A-Z0-9][\w'’\-]*)*")
_OPENERS = QUESTION_WORDS | {"and"}  # words that open a question ("And who ...?") and name nothing


def is_follow_up(question: str) -> bool:
    """A question that leans on an earlier turn: a pronoun, "And ...", or too few words of its own."""
    own_terms = [t for t in terms(question) if t not in QUESTION_TERMS]
    return bool(_ANAPHORA.search(question) or _CONTINUATION.match(question) or len(own_terms) <= 1)


def topic_of(question: str) -> str:
    """The named things of a question ("National Carbon Neutrality ... Committee"), else its content words."""
    entities = []
    for match in _ENTITY.finditer(question):
        words = match.group().split()
        while words and words[0].lower() in _OPENERS:  # "Who", "And" open the sentence, they name nothing
            words.pop(0)
        if words:
            entities.append(" ".join(words))
    if entities:
        return "; ".join(entities)
    words = [w for w in re.findall(r"[\w'’\-]+", question) if w.lower() not in _OPENERS and len(w) > 3]
    return " ".join(words)


def resolve_question(messages: list[tuple[str, str]]) -> str:
    """The question to search for: the last user message, with the topic of the earlier
    user turns appended when it is a follow-up. ``messages`` are ``(role, content)`` pairs."""
    user_turns = [strip_blank(content) for role, content in messages if role == "user" and not is_blank(content)]
    if not user_turns:
        return ""
    last = user_turns[-1]
    if len(user_turns) == 1 or not is_follow_up(last):
        return last
    for earlier in reversed(user_turns[:-1]):
        topic = topic_of(earlier)
        if topic:
            return f"{last} ({topic})"
    return last
