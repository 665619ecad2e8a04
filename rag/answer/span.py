"""The short answer span: the phrase of an answer sentence that the question asks for.

No reader model ships in a wheel, so this is a typed candidate picker: the question's wh-word
says what kind of phrase it wants (a person or organisation, a place, a date, a quantity),
the sentence offers candidates of each kind, and the nearest candidate to the question's own
words that does not merely repeat them wins. It returns ``None`` rather than guess.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.answer.question import Question
from rag.dates import DATE_PHRASE, MONTH_PHRASE, SPACE
from rag.search.bm25 import stem_words, terms

_SCALE = r"(?:hundred|thousand|million|billion|trillion)"
_UNIT = (r"(?:%|percent|per{SPACE}cent|°C|degrees(?:{SPACE}Celsius)?|tonnes|tons|kilowatts|kilowatt-hours|"
         r"megawatts|gigawatts|yuan|dollars|euros|people|years|months|days|kilometres|kilometers|"
         r"hectares)").replace("{SPACE}", SPACE)
_NUMBER = re.compile(
    rf"(?:(?:about|around|nearly|almost|over|more{SPACE}than|less{SPACE}than|at{SPACE}least|"
    rf"no{SPACE}fewer{SPACE}than){SPACE}+)?"
    rf"(?:\$|¥|€)?\d(?:[\d,]*\d)?(?:\.\d+)?(?:{SPACE}*{_SCALE})?(?:{SPACE}*{_UNIT})?"
    rf"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    rf"sixty|hundred)(?:{SPACE}+{_SCALE})?(?:{SPACE}+{_UNIT})?\b",
    re.IGNORECASE,
)
_CAP = r"(?:[A-Z][\w'’\-\.]*|[0-9]+(?:st|nd|rd|th))"
_CAPS = re.compile(rf"{_CAP}(?:(?:{SPACE}+(?:of|the|and|for|on|de|du|van|von|al)){{0,2}}{SPACE}+{_CAP})*")
_PLACE_TAIL = re.compile(rf",{SPACE}*([A-Z][\w\-]+)")
_ORG_WORDS = frozenset(
    "ministry administration committee institute academy commission council panel report plan bank "
    "university department agency office association market organization organisation company group "
    "corporation party government state national people's congress board centre "
    "center conference programme program fund union".split()
)
# Titles before a name ("Vice Minister ... Zhang Yudong", "Academicians Du Xiangwan"): the name is the answer.
_TITLE_WORDS = frozenset(
    "minister vice president premier director chairman chairwoman chair secretary academician academicians "
    "professor dr mr mrs ms researcher deputy general head governor mayor ambassador envoy spokesperson "
    "spokesman spokeswoman commissioner".split()
)
_SENTENCE_STARTERS = frozenset("the a an on in by at this that these those it its as after before for "
                               "from with under over during since when while and but or".split())
_BODY_TERMS = frozenset(terms("organisation organization body agency institution"))


def _is_orgish(phrase: str) -> bool:
    return any(w.lower().strip(",.") in _ORG_WORDS for w in phrase.split())


def find_span(question: Question, sentence: str, strict: bool = False) -> tuple[int, int] | None:
    """Offsets (within ``sentence``) of the short answer, or ``None`` if no candidate fits.

    ``strict`` accepts only a candidate of the exact kind asked for (a person for "who",
    a place after a preposition for "where").
    """
    kind, type_terms = question.kind, question.type_terms
    own_terms = question.terms - type_terms  # the question's words that are not the answer's kind
    anchors = [start for start, stem in _word_stems(sentence) if stem in own_terms]
    best: tuple[float, int, int] | None = None
    for start, end, cand_kind, cand_terms in _candidates(sentence, kind):
        repeated = sum(t in own_terms for t in cand_terms) / len(cand_terms)
        if repeated >= 0.5:
            continue
        fit = _type_fit(kind, cand_kind, sentence, start, end)
        if type_terms & set(cand_terms) or (type_terms & _BODY_TERMS and _is_orgish(sentence[start:end])):
            fit += 0.5
        if strict and fit < 1.5:
            continue
        score = fit - 0.5 * repeated
        if anchors:
            distance = min(abs(a - start) if a < start else abs(a - end) for a in anchors)
            score -= min(distance, 200) / 200
        if best is None or score > best[0]:
            best = (score, start, end)
    if best is None or best[0] < 0:
        return None
    return best[1], best[2]


@lru_cache(maxsize=1 << 15)
def _word_stems(sentence: str) -> tuple[tuple[int, str], ...]:
    """Where each word of the sentence starts, with its stem (anchors: the question's own words)."""
    matches = list(re.finditer(r"\w+", sentence))
    stems = stem_words([m.group().casefold() for m in matches])
    return tuple((m.start(), stem) for m, stem in zip(matches, stems))


@lru_cache(maxsize=1 << 15)
def _candidates(sentence: str, kind: str) -> tuple[tuple[int, int, str, tuple[str, ...]], ...]:
    """The sentence's candidate phrases for ``kind`` with their terms (phrases without a term left out);
    the same for every question of that kind, so kept."""
    found = []
    for start, end, cand_kind in _phrases(sentence, kind):
        cand_terms = tuple(terms(sentence[start:end]))
        if cand_terms:
            found.append((start, end, cand_kind, cand_terms))
    return tuple(found)


def _phrases(sentence: str, kind: str):
    if kind in ("date", "thing"):
        for m in DATE_PHRASE.finditer(sentence):
            yield m.start(), m.end(), "date"
    if kind in ("number", "thing"):
        for m in _NUMBER.finditer(sentence):
            if not DATE_PHRASE.fullmatch(m.group()) or kind == "number":
                yield m.start(), m.end(), "number"
    if kind in ("agent", "place", "thing"):
        for m in _CAPS.finditer(sentence):
            start, end = m.start(), m.end()
            words = m.group().split()
            if words[0].lower() in _SENTENCE_STARTERS:
                if len(words) == 1:
                    continue
                start += len(words[0])
                while sentence[start] in " \u00a0":
                    start += 1
            if DATE_PHRASE.fullmatch(sentence[start:end]) or MONTH_PHRASE.fullmatch(sentence[start:end]):
                continue
            end = end - 1 if sentence[end - 1] == "." and not re.search(r"\b[A-Z]\.$", sentence[start:end]) else end
            if kind == "place":
                tail = _PLACE_TAIL.match(sentence, end)
                if tail:
                    yield start, tail.end(), "place"
            # A lone capitalised word that opens the sentence is usually just capitalised ("Also").
            yield start, end, "opener" if m.start() == 0 and len(words) == 1 else "caps"
            name = _trailing_name(sentence, start, end)
            if kind == "agent" and name:
                yield name, end, "caps"


def _trailing_name(sentence: str, start: int, end: int) -> int | None:
    """Start of a two-word name that ends a run opened by a title or an organisation
    ("Vice Minister of Science and Technology Zhang Yudong" -> "Zhang Yudong")."""
    words = list(re.finditer(r"\S+", sentence[start:end]))
    if len(words) < 3:
        return None
    head = {w.group().lower().strip(",.") for w in words[:-2]}
    tail = [w.group() for w in words[-2:]]
    if not head & (_TITLE_WORDS | _ORG_WORDS) or words[-3].group().islower():
        return None  # "Institute of Chemical Physics": words after a connector belong to the name
    if any(t.lower() in _TITLE_WORDS | _ORG_WORDS or not t[:1].isupper() for t in tail):
        return None
    return start + words[-2].start()


OPENER_PENALTY = 0.4


def _type_fit(kind: str, cand_kind: str, sentence: str, start: int, end: int) -> float:
    words = sentence[start:end].replace("\u00a0", " ").split()
    orgish = any(w.lower().strip(",.") in _ORG_WORDS | _TITLE_WORDS for w in words)
    before = sentence[max(0, start - 6):start].lower()
    if cand_kind == "opener":
        return _type_fit(kind, "caps", sentence, start, end) - OPENER_PENALTY
    if kind == "agent":
        person = 2 <= len(words) <= 3 and not orgish and not sentence[start:end].isupper()
        return 1.0 + (0.6 if person else 0.0)
    if kind == "place":
        prepositioned = bool(re.search(r"\b(in|at|from|to)[ \u00a0]+$", before))
        return 1.0 + (0.5 if prepositioned else 0.0) + (0.3 if cand_kind == "place" else 0.0) - (0.6 if orgish else 0.0)
    if kind in ("date", "number"):
        return 1.5
    return 0.6 if cand_kind == "caps" else 0.5
