"""BM25: the scores bm25s gives, and an index that grows by appending gives the same scores."""

import bm25s
import numpy as np
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from rag.search.bm25 import LexicalIndex, terms

DOCS = [
    "The national carbon market opened for trading in Shanghai on July 16, 2021.",
    "Emitters in the power sector surrendered allowances for 99.5 percent of their emissions.",
    "China's installed renewable capacity reached 1.213 billion kilowatts at the end of 2022.",
    "Wind power capacity reached 365 million kilowatts and solar power 393 million kilowatts.",
    "The IPCC approved its Synthesis Report in Interlaken; the report on carbon and carbon markets.",
    "Eleven departments issued guidelines for carbon standards, aiming for 1,000 standards.",
]
QUESTIONS = ["When did the carbon market open?", "wind and solar capacity", "carbon carbon standards",
             "Interlaken report", "nothing known here", ""]


def bm25s_scores(docs: list[str], question: str) -> np.ndarray:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in terms(d)] for d in docs]
    reference = bm25s.BM25(k1=LexicalIndex.K1, b=LexicalIndex.B)  # lucene, as ours
    reference.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    known = [t for t in terms(question) if t in vocab]
    return reference.get_scores(known) if known else np.zeros(len(docs))


def test_scores_are_those_of_bm25s():
    index = LexicalIndex(DOCS)
    for question in QUESTIONS:
        assert np.allclose(index.scores(question), bm25s_scores(DOCS, question), atol=1e-5), question


def test_appended_documents_score_as_if_indexed_in_one_go():
    whole = LexicalIndex(DOCS)
    grown = LexicalIndex(DOCS[:2])
    for doc in DOCS[2:]:
        grown = grown.extended([terms(doc)])
    assert grown.size == len(DOCS)
    for question in QUESTIONS:
        assert np.allclose(grown.scores(question), whole.scores(question), atol=1e-6), question
    assert grown.idf("carbon") == whole.idf("carbon")


def test_extending_leaves_the_original_unchanged():
    base = LexicalIndex(DOCS[:3])
    before = base.scores("wind capacity")
    base.extended([terms(DOCS[3])])
    assert base.size == 3 and np.array_equal(base.scores("wind capacity"), before)


def test_many_appends_are_merged_into_few_segments(monkeypatch):
    monkeypatch.setattr(LexicalIndex, "MAX_SEGMENTS", 3)
    grown = LexicalIndex(DOCS[:1])
    for doc in DOCS[1:] * 3:
        grown = grown.extended([terms(doc)])
    assert len(grown._segments) <= 3
    reference = DOCS[:1] + DOCS[1:] * 3
    for question in QUESTIONS:
        assert np.allclose(grown.scores(question), bm25s_scores(reference, question), atol=1e-5), question


@hyp_settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["carbon", "market", "wind", "solar", "report", "china", "coal"]),
                         max_size=12), min_size=1, max_size=12).filter(any),  # bm25s needs one term
       st.integers(min_value=0, max_value=11))
def test_any_split_into_appends_matches_bm25s(docs, cut):
    texts = [" ".join(words) for words in docs]
    cut = min(cut, len(texts))
    grown = LexicalIndex(texts[:cut]).extended([terms(t) for t in texts[cut:]])
    for question in ("carbon market", "wind wind solar", "coal report china"):
        assert np.allclose(grown.scores(question), bm25s_scores(texts, question), atol=1e-4)


def test_documents_without_terms_score_zero():
    index = LexicalIndex(["the of and", ""]).extended([[]])
    assert index.size == 3 and not index.scores("carbon market").any() and not index.scores("").any()
