"""What the answer model reads (rag/answer/reading.py): inputs cut to the model's limits, offsets
that slice the sentence, a long sentence's windows, and the limits a model file carries."""

from __future__ import annotations

import pytest

from rag.answer.reading import DEFAULT_LIMITS, InputLimits, encode_pairs, load_tokenizer, sentence_windows

from helpers import ANSWER_SENTENCE, LONG_SENTENCE, QUESTION


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, InputLimits(max_tokens=48, max_question=12, max_sentence=30)])
def test_inputs_stay_short_and_offsets_slice_the_sentence(limits):
    tokenizer = load_tokenizer()
    long = " ".join(["word"] * 300) + "."
    encoded = encode_pairs(tokenizer, [QUESTION, long], ["Title | " + long, "Title"], [ANSWER_SENTENCE, long], limits)
    assert encoded.input_ids.shape[1] == limits.max_tokens  # the long pair fills it exactly
    assert len(encoded.sentence_offsets[1]) == limits.max_sentence
    for k, sentence in enumerate([ANSWER_SENTENCE, long]):
        first, offsets = encoded.sentence_start[k], encoded.sentence_offsets[k]
        ids = encoded.input_ids[k, first:first + len(offsets)]
        assert tokenizer.decode(ids.tolist()).replace(" ", "") in sentence.lower().replace(" ", "")
        assert offsets[-1, 1] <= len(sentence)


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, InputLimits(max_tokens=48, max_question=12, max_sentence=30)])
def test_a_long_sentence_is_read_in_overlapping_windows_that_start_at_words_and_reach_its_end(limits):
    tokenizer = load_tokenizer()
    assert sentence_windows(tokenizer, ANSWER_SENTENCE, limits) == [(0, len(ANSWER_SENTENCE))]
    pieces = len(tokenizer.encode(LONG_SENTENCE, add_special_tokens=False).ids)
    assert pieces > limits.max_sentence
    windows = sentence_windows(tokenizer, LONG_SENTENCE, limits)
    assert len(windows) > 1 and windows[0][0] == 0 and windows[-1][1] == len(LONG_SENTENCE)
    for (start, end), (next_start, _) in zip(windows, windows[1:]):
        assert start < next_start < end  # they overlap
        assert LONG_SENTENCE[next_start - 1] == " "  # each starts at a word
    for start, end in windows:
        assert len(tokenizer.encode(LONG_SENTENCE[start:end], add_special_tokens=False).ids) <= limits.max_sentence
    glued = "x" * 400  # no word boundary anywhere: still windows, never past the end
    assert sentence_windows(tokenizer, glued, limits)[-1][1] == len(glued)
    slightly = " ".join(["word"] * (limits.max_sentence + 8))  # 8 pieces over: read whole, in one call
    assert sentence_windows(tokenizer, slightly, limits) == [(0, len(slightly))]
    assert len(sentence_windows(tokenizer, slightly + " word", limits)) > 1


def test_limits_travel_in_the_model_file_metadata():
    limits = InputLimits(max_tokens=64, max_question=20, max_sentence=48)
    assert InputLimits.from_metadata(limits.metadata()) == limits
    assert InputLimits.from_metadata({"producer": "x"}) == DEFAULT_LIMITS  # files written before limits were
