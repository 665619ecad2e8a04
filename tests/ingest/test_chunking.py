from hypothesis import given
from hypothesis import strategies as st

from rag.config import Settings
from rag.index.build import split_corpus
from rag.ingest.chunks import chunk_sentences, count_tokens
from rag.ingest.files import SourceFile

from helpers import SEED_FILE


def test_windows_respect_size_and_overlap():
    assert chunk_sentences([50] * 5, 120, 60) == [(0, 2), (1, 3), (2, 4), (3, 5)]
    assert chunk_sentences([50] * 5, 120, 0) == [(0, 2), (2, 4), (4, 5)]


def test_long_sentence_forms_its_own_window():
    assert chunk_sentences([300, 10, 10], 120, 60) == [(0, 1), (1, 3)]


@given(st.lists(st.integers(1, 80), min_size=1, max_size=40), st.integers(16, 200), st.integers(0, 15))
def test_windows_cover_every_sentence_in_order(counts, size, overlap):
    windows = chunk_sentences(counts, size, overlap)
    assert windows[0][0] == 0 and windows[-1][1] == len(counts)
    for (a1, b1), (a2, b2) in zip(windows, windows[1:]):
        assert a1 < a2 <= b1 < b2  # progress, no gaps
    for a, b in windows:
        assert b - a == 1 or sum(counts[a:b]) <= size


def test_seed_chunks_slice_back_to_their_text_and_end_on_sentences():
    text = SEED_FILE.read_bytes().decode("utf-8")
    files = [SourceFile("seeds/china-carbon-neutrality-2023-03.txt", SEED_FILE, text)]
    bulletins, sentences, chunks = split_corpus(files, Settings(chunk_tokens=60, chunk_overlap=20))
    assert len(chunks) > len(bulletins)  # small windows split the bulletins
    for c in chunks:
        assert text[c.char_start:c.char_end] == c.text
        assert c.char_start == sentences[c.sentence_ids[0]].char_start
        assert c.char_end == sentences[c.sentence_ids[-1]].char_end
        assert count_tokens([c.text])[0] <= 60 + 5 or len(c.sentence_ids) == 1
    for s in sentences:
        assert text[s.char_start:s.char_end] == s.text
