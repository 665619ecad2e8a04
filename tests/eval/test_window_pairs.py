"""Training pairs read in windows as the engine reads long sentences (eval/training_batches.py, ``window_pairs``)."""

from __future__ import annotations

import pytest

from eval.answer_data import Pair
from eval.training_batches import window_pairs
from rag.answer.reading import DEFAULT_LIMITS, load_tokenizer, sentence_windows, with_preceding

LONG = ("On March 1, in order to carry out the national plan for cutting emissions in industry, transport, "
        "buildings and farming over the coming decade (hereinafter referred to as the \"Plan\"), and to bring "
        "together the research institutes, universities, provincial governments and companies that work on clean "
        "energy, grid storage and carbon capture, the ministry held the first meeting of its new expert committee "
        "in Lyon.")
SHORT = "The ministry held the meeting in Lyon."


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def _pair(sentence: str, label: int, answer: str | None, kind: str = "pos") -> Pair:
    start = sentence.rindex(answer) if answer else -1
    return Pair("q1", 0, "Where was the first meeting held?", "Experts meet | Earlier sentence.", sentence, label,
                start, start + len(answer) if answer else -1, kind)


def test_a_long_positive_becomes_its_windows_with_the_answer_in_the_one_that_holds_it(tokenizer):
    windows = sentence_windows(tokenizer, LONG, DEFAULT_LIMITS)
    assert len(windows) == 2
    made = window_pairs(tokenizer, [_pair(LONG, 1, "Lyon")])
    assert [p.label for p in made] == [0, 1]
    first, second = made
    assert first.sentence == LONG[windows[0][0]:windows[0][1]] and first.context == "Experts meet | Earlier sentence."
    assert first.answer_start == -1
    assert second.sentence == LONG[windows[1][0]:windows[1][1]]
    # the engine's context for a later window: the sentence's words before it
    assert second.context == with_preceding("Experts meet | Earlier sentence.", LONG[:windows[1][0]].strip())
    assert second.sentence[second.answer_start:second.answer_end] == "Lyon"


def test_an_answer_in_the_overlap_is_kept_once_and_negatives_and_short_sentences_pass(tokenizer):
    windows = sentence_windows(tokenizer, LONG, DEFAULT_LIMITS)
    both = LONG[windows[1][0]:windows[0][1]].split()[1]  # a word inside both windows
    made = window_pairs(tokenizer, [_pair(LONG, 1, both)])
    assert [p.label for p in made] == [1, 0]  # the first window holding it
    assert made[0].sentence[made[0].answer_start:made[0].answer_end] == both
    negative = window_pairs(tokenizer, [_pair(LONG, 0, None, "hard")])
    assert [(p.label, p.answer_start, p.kind) for p in negative] == [(0, -1, "hard"), (0, -1, "hard")]
    short = _pair(SHORT, 1, "Lyon")
    assert window_pairs(tokenizer, [short]) == [short]


def test_an_answer_across_two_windows_labels_the_window_it_starts_in_without_a_span(tokenizer):
    windows = sentence_windows(tokenizer, LONG, DEFAULT_LIMITS)
    start = LONG.rindex(" ", 0, windows[1][0] - 1) + 1  # from the word before the second window ...
    end = LONG.index(" ", windows[0][1] + 1)  # ... to the word after the first window's end
    pair = Pair("q1", 0, "What?", "T", LONG, 1, start, end, "pos")
    assert not any(a <= start and end <= b for a, b in windows)
    made = window_pairs(tokenizer, [pair])
    assert [(p.label, p.answer_start) for p in made] == [(1, -1), (0, -1)]
