from hypothesis import given, settings, strategies as st

from rag.text import normalize, paragraphs, split_sentences

from conftest import SEED_FILE


def test_normalize_folds_unicode_spaces_and_case():
    assert normalize("More than 60\u00a0People\n attended") == "more than 60 people attended"


def test_seed_sentences_round_trip_and_keep_original_characters():
    text = SEED_FILE.read_bytes().decode("utf-8")
    ranges = split_sentences(text, 0, len(text))
    assert len(ranges) > 30
    for s, e in ranges:
        piece = text[s:e]
        assert piece == piece.strip() and piece
        assert "\n\n" not in piece
    joined = [text[s:e] for s, e in ranges]
    assert "On March\u00a020, 2023, the Intergovernmental Panel" in joined[10]
    assert any(p.startswith("Liu Zhongmin, an academician") for p in joined)


def test_abbreviations_do_not_end_sentences():
    text = "Mr. Liu met U.S. officials on Jan. 5. They agreed."
    ranges = split_sentences(text, 0, len(text))
    assert [text[s:e] for s, e in ranges] == ["Mr. Liu met U.S. officials on Jan. 5.", "They agreed."]


def test_paragraphs_split_on_blank_lines_with_spaces():
    text = "One.\n \nTwo.\n\n\nThree."
    assert [text[s:e] for s, e in paragraphs(text, 0, len(text))] == ["One.", "Two.", "Three."]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .\n\u00a0?!Zé")), max_size=80))
def test_sentence_ranges_are_ordered_slices_of_any_text(text):
    ranges = split_sentences(text, 0, len(text))
    previous_end = 0
    for s, e in ranges:
        assert previous_end <= s < e <= len(text)
        assert text[s:e].strip() == text[s:e]
        previous_end = e
