"""Questions asked otherwise: the rewrites that make a SQuAD question unanswerable by the sentence
that answered it, or reword it, for the answer model's training pairs (eval/answer_data.py) and for
the unanswerable suites of ``rag eval --squad-swapped / --squad-antonym`` and eval/answer_sweep.py.

- swapped: an entity, number or year the answer sentence says, replaced by another of the article
  that the sentence does not say (the topic matches, the fact does not);
- negated: the first auxiliary contracted ("Who was named ...?" -> "Who wasn't named ...?");
- antonym: a word the answer sentence says turned into its opposite ("the largest" -> "the smallest");
- reworded: words the sentence says replaced by WordNet synonyms it does not say (still answerable).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from rag.search.bm25 import terms
from rag.text import split_sentences

from .datasets import Question

_YEAR = re.compile(r"\b(?:1[0-9]|20)\d\d\b")
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_NAME = re.compile(r"\b[A-Z][\w'\-]+(?: (?:of |the |de )?[A-Z][\w'\-]+)*")
_WORD = re.compile(r"\b[a-z][a-z\-]+\b")


def _plural(noun: str) -> str:
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + ("es" if re.search(r"(?:s|x|z|ch|sh)$", noun) else "s")


def reworded_question(question: str, said: str, answer: str, thesaurus, rng: random.Random) -> str | None:
    """``question`` with each lower-case word that ``said`` (the answer sentence and its headline)
    also says replaced by a WordNet synonym that it does not say ("Which city hosted ...?" ->
    "Which metropolis hosted ...?"); None when no word has one. Words of the answer and names
    (capitalised) stay.

    Why: SQuAD's writers mostly reused their sentence's words, so a model trained on SQuAD
    learns that shared words mean an answer, and doubts the sentence when a user says the same
    thing in other words. A reworded copy with the same answer, and the same negatives, teaches
    it to read meaning rather than count words (synonym replacement, Wei and Zou 2019)."""
    said_terms = set(terms(said))
    kept = set(terms(answer))
    out, last, changed = [], 0, 0
    for m in _WORD.finditer(question):
        word = m.group()
        own = set(terms(word))
        if len(word) < 4 or not own & said_terms or own & kept:
            continue
        base, plural = word, False
        if word not in thesaurus:
            base = next((b for b in (word[:-3] + "y" if word.endswith("ies") else "", word[:-2] if word.endswith("es")
                                     else "", word[:-1] if word.endswith("s") else "") if b and b in thesaurus), word)
            plural = base != word
        choices = [w for w in thesaurus.synonyms(base) if not set(terms(w)) & said_terms][:3]
        if not choices:
            continue
        out += [question[last:m.start()], _plural(rng.choice(choices)) if plural else rng.choice(choices)]
        last, changed = m.end(), changed + 1
    return "".join(out) + question[last:] if changed else None


_NEGATIONS = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "do": "don't", "does": "doesn't",
              "did": "didn't", "has": "hasn't", "have": "haven't", "had": "hadn't", "can": "can't",
              "could": "couldn't", "will": "won't", "would": "wouldn't", "should": "shouldn't", "must": "mustn't"}
_AUXILIARY = re.compile(r"\b(" + "|".join(_NEGATIONS) + r")\b", re.IGNORECASE)
_WH_START = re.compile(r"^(?:what|who|whom|whose|when|where|which|why|how|in what|in which)\b", re.IGNORECASE)
_ALREADY_NEGATED = re.compile(r"\b(?:not|never|no|none|nor)\b|n't\b", re.IGNORECASE)


def negate_question(question: str) -> str | None:
    """A wh-question with its first auxiliary, within its first five words, contracted with "not"
    ("When did ... end?" -> "When didn't ... end?"); the contraction reads right whether the
    subject comes before or after it. None when it has no such auxiliary or is already negative."""
    if not _WH_START.match(question) or _ALREADY_NEGATED.search(question):
        return None
    m = _AUXILIARY.search(question)
    if m is None or len(question[:m.start()].split()) > 4:
        return None
    word = m.group(1)
    negated = _NEGATIONS[word.lower()]
    if word[0].isupper():
        negated = negated[0].upper() + negated[1:]
    return question[:m.start()] + negated + question[m.end():]


# Opposites in the forms questions and sentences use them: superlatives, comparatives, directions,
# changes, order in time. General English, not any corpus's words; SQuAD 2.0's writers made a fifth
# of its unanswerable questions this way ("antonym", Rajpurkar et al. 2018: "What is the largest
# ...?" asked of a sentence that says the smallest). Words whose other senses are common ("left",
# "light", "end", "new" in names) are left out.
_OPPOSITES = (
    "largest smallest", "biggest smallest", "highest lowest", "most least", "first last", "earliest latest",
    "best worst", "longest shortest", "oldest youngest", "greatest least", "more fewer", "before after",
    "increase decrease", "increased decreased", "increases decreases", "increasing decreasing",
    "rise fall", "rose fell", "win lose", "won lost", "major minor", "north south", "east west",
    "northern southern", "eastern western", "upper lower", "maximum minimum", "positive negative",
    "public private", "male female", "inside outside", "above below", "early late", "higher lower",
    "larger smaller", "bigger smaller", "longer shorter", "older younger", "stronger weaker", "strongest weakest",
    "richest poorest", "wealthiest poorest", "heaviest lightest", "fastest slowest", "hottest coldest",
    "warmest coldest", "successful unsuccessful", "legal illegal", "common rare", "allowed forbidden",
    "accepted rejected", "supported opposed", "imported exported", "imports exports", "gained lost",
    "began ended", "internal external", "domestic foreign", "ancient modern", "rural urban", "majority minority",
    "arrived departed", "born died", "success failure", "victory defeat", "included excluded", "primary secondary",
    "offensive defensive", "allies enemies", "predecessor successor", "cheapest most expensive",
)
ANTONYMS = {a: b for pair in _OPPOSITES for a, b in (pair.split(" ", 1), pair.split(" ", 1)[::-1])}
_LOWER_WORD = re.compile(r"\b[a-z]+\b")


def antonym_question(question: str, sentence: str, answer: str) -> str | None:
    """``question`` with its first lower-case word that the answer sentence also says, and whose
    opposite (``ANTONYMS``) the sentence does not say, turned into that opposite ("What is the
    largest ...?" -> "What is the smallest ...?"): the topic matches, the relation the sentence
    states does not. None when no word qualifies or the word is part of the answer."""
    said = set(re.findall(r"[a-z]+", sentence.lower()))
    in_answer = set(re.findall(r"[a-z]+", answer.lower()))
    for m in _LOWER_WORD.finditer(question):
        word = m.group()
        opposite = ANTONYMS.get(word)
        if opposite and word in said and word not in in_answer and not set(opposite.split()) & said:
            return question[:m.start()] + opposite + question[m.end():]
    return None


def article_entities(text: str) -> dict[str, list[str]]:
    """Entities of an article by kind: years, other numbers, capitalised names (sorted, unique)."""
    years = set(_YEAR.findall(text))
    numbers = {n for n in _NUMBER.findall(text) if n not in years}
    found = _NAME.findall(text)
    counts = {m: found.count(m) for m in set(found)}
    # A capitalised word seen once is often just a sentence's first word ("For", "Level").
    names = {m for m, n in counts.items() if len(m) > 2 and (n > 1 or " " in m) and terms(m)}
    return {"year": sorted(years), "number": sorted(numbers), "name": sorted(names)}


def swap_entity(question: str, sentence: str, answer: str, article_names: dict[str, list[str]],
          rng: random.Random) -> str | None:
    """The question with one entity that the answer sentence also says replaced by another of the
    same kind from the article that the sentence does not say; None when there is none to swap."""
    found = []
    for kind, pattern in (("year", _YEAR), ("number", _NUMBER), ("name", _NAME)):
        for m in pattern.finditer(question):
            phrase = m.group(0)
            if m.start() == 0 and kind == "name" and " " not in phrase:
                continue  # a capitalised first word is usually just the start of the question
            if phrase in sentence and phrase not in answer and set(terms(phrase)):
                found.append((kind, m.start(), m.end(), phrase))
    rng.shuffle(found)
    for kind, start, end, phrase in found:
        options = [x for x in article_names[kind] if x != phrase and x not in sentence and x not in question
                   and not set(terms(x)) & set(terms(sentence))]
        if options:
            return question[:start] + rng.choice(options) + question[end:]
    return None


def swapped_question(article_text: str, paragraph_text: str, question: str, answer: str,
                     rng: random.Random) -> str | None:
    """``question`` made unanswerable the way the training data's "swap" negatives are (``swap_entity``):
    an entity its answer sentence says replaced by another of the article that the sentence does
    not say. None when the answer is not inside one sentence or nothing can be swapped.
    eval/answer_sweep.py and ``rag eval --squad-swapped`` ask these with the gold paragraph in the
    corpus: the topic matches, the fact does not."""
    sentence = _answer_sentence(paragraph_text, answer)
    if sentence is None:
        return None
    return swap_entity(" ".join(question.split()), sentence, " ".join(answer.split()),
                 article_entities(" ".join(article_text.split())), rng)


def swapped_questions(path: Path, questions: list[Question], seed: int = 0) -> list[Question]:
    """Those of ``questions`` (from the SQuAD file ``path``) that a swap can make unanswerable, made
    so (``swapped_question``); they keep their gold paragraph as the one that should be retrieved."""
    rng = random.Random(seed)
    return _asked_otherwise(path, questions, "swapped",
                            lambda article, paragraph, question, answer:
                            swapped_question(article, paragraph, question, answer, rng))


def antonym_questions(path: Path, questions: list[Question]) -> list[Question]:
    """Those of ``questions`` (from the SQuAD file ``path``) that an opposite makes unanswerable,
    made so (``antonym_question`` on their answer sentence); the gold paragraph stays the one that
    should be retrieved. ``rag eval --squad-antonym`` and eval/answer_sweep.py ask them."""

    def make(article_text: str, paragraph_text: str, question: str, answer: str) -> str | None:
        sentence = _answer_sentence(paragraph_text, answer)
        return antonym_question(" ".join(question.split()), sentence, answer) if sentence else None

    return _asked_otherwise(path, questions, "antonym", make)


def _answer_sentence(paragraph_text: str, answer: str) -> str | None:
    text = " ".join(paragraph_text.split())
    answer = " ".join(answer.split())
    where = text.find(answer) if answer else -1
    if where < 0:
        return None
    return next((text[s:e] for s, e in split_sentences(text, 0, len(text))
                 if s <= where and where + len(answer) <= e), None)


def _asked_otherwise(path: Path, questions: list[Question], kind: str, make) -> list[Question]:
    """Each of ``questions`` rewritten by ``make(article text, paragraph text, question, answer)``
    where it can be, as an unanswerable question of ``kind`` (id ``<id>-<kind>``)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    where = {}
    for article in data:
        article_text = " ".join(p["context"] for p in article["paragraphs"])
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                where[str(qa["id"])] = (article_text, paragraph["context"], qa)
    out = []
    for q in questions:
        article_text, context, qa = where[q.id]
        answer = qa["answers"][0]["text"] if qa.get("answers") else ""
        rewritten = make(article_text, context, qa["question"], answer)
        if rewritten:
            out.append(Question(f"{q.id}-{kind}", rewritten, (), False, dict(q.relevant), kind))
    return out
