"""The heuristic scorer's word-family test: a set lookup that must say what the plain rule says."""

from __future__ import annotations

from pathlib import Path

from rag.answer.select import MIN_FAMILY_STEM, _families, _says
from rag.search.bm25 import term_set

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def plain_rule(term: str, present: frozenset[str]) -> bool:
    """The rule as first written: the word itself, or one that starts alike, the shorter long enough."""
    if term in present:
        return True
    if len(term) < MIN_FAMILY_STEM:
        return False
    return any(len(p) >= MIN_FAMILY_STEM and (p.startswith(term) or term.startswith(p)) for p in present)


def test_family_lookup_agrees_with_the_plain_rule_on_the_seed_vocabulary():
    text = " ".join(path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt")))
    lines = [line for line in text.splitlines() if line.strip()][:80]
    vocabulary = sorted(set().union(*(term_set(line) for line in lines)))
    assert len(vocabulary) > 200
    probes = vocabulary + [t[:k] for t in vocabulary for k in (4, 5)] + [t + "er" for t in vocabulary[:50]]
    for sentence, title in zip(lines, lines[1:] + lines[:1]):
        present = term_set(sentence) | term_set(title)
        families = (_families(sentence), _families(title))
        for term in probes:
            assert _says(term, present, families) == plain_rule(term, present), (term, sentence)


def test_lead_and_leader_are_one_family():
    present = term_set("Liu Zhongmin served as the leader of the committee")
    assert _says("lead", present, (_families("Liu Zhongmin served as the leader of the committee"),))
    assert not _says("lea", present, (frozenset(),))  # too short to stand for a family
