from hypothesis import given, settings
from hypothesis import strategies as st

from rag.text import normalize, paragraphs, slug, split_sentences

from helpers import SEED_FILE


def test_normalize_folds_unicode_spaces_and_case():
    assert normalize("More than 60\u00a0People\n attended") == "more than 60 people attended"


def test_seed_sentences_round_trip_and_keep_original_characters():
    text = SEED_FILE.read_bytes().decode("utf-8")
    ranges = split_sentences(text, 0, len(text))
    assert len(ranges) > 30
    assert all(any(ch.isalnum() for ch in text[s:e]) for s, e in ranges)  # no stray closing quote
    for s, e in ranges:
        piece = text[s:e]
        assert piece == piece.strip() and piece
        assert "\n\n" not in piece
    joined = [text[s:e] for s, e in ranges]
    assert any(p.startswith("Liu Zhongmin, academician of Dalian Institute") for p in joined)
    assert any(p.endswith('if we act now."') for p in joined)  # the closing quote stays with its sentence


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


def test_hard_wrapped_newswire_splits_into_whole_sentences():
    text = ("Standard Oil Co and BP North America\n"
            "Inc said they plan to form a venture to manage the money market\n"
            "borrowing and investment activities of both companies.\n"
            "    The venture will be called BP/Standard Financial Trading\n"
            "and will be operated by Standard Oil.\n"
            "         Natl   Loan    Release\n"
            " Wheat   2.55   2.40       IV\n")
    found = [text[s:e] for s, e in split_sentences(text, 0, len(text))]
    assert found[0] == ("Standard Oil Co and BP North America\nInc said they plan to form a venture to manage "
                        "the money market\nborrowing and investment activities of both companies.")
    assert found[1] == "The venture will be called BP/Standard Financial Trading\nand will be operated by Standard Oil."
    assert found[2:] == ["Natl   Loan    Release", "Wheat   2.55   2.40       IV"]  # indented rows stay apart


def test_a_short_line_without_punctuation_still_stands_alone_unless_the_text_runs_on():
    headline = "Wind Farm Opens In Gansu\nOn May 2, 2024, a wind farm opened in Jiuquan. It will power homes."
    assert [headline[s:e] for s, e in split_sentences(headline, 0, len(headline))][0] == "Wind Farm Opens In Gansu"
    run_on = "The ministry said on Monday that the\nplan starts in May."
    assert [run_on[s:e] for s, e in split_sentences(run_on, 0, len(run_on))] == [run_on]


def test_slug_is_lower_case_ascii_words_joined_by_hyphens_within_its_length():
    assert slug("IPCC Releases “Synthesis Report”", 60) == "ipcc-releases-synthesis-report"
    assert slug("Ｗind  Farm -- Opens!", 9) == "wind-farm"  # cut at 9, no hyphen left at the end
    assert slug("碳达峰", 10) == ""
