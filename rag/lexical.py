"""Lexical search with BM25 (bm25s) and the term weights the answer step shares."""

from __future__ import annotations

import logging
import math
import re
from functools import lru_cache

import numpy as np

from .text import normalize

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"(?u)\b\w\w+\b|\b\d\b")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """Normalised, stop-word-free, stemmed terms of ``text`` (the vocabulary of BM25 and of answer scoring)."""
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(normalize(text)) if w not in stop]
    return _stemmer().stemWords(words)


def stem_words(words: list[str]) -> list[str]:
    return _stemmer().stemWords(words)


class LexicalIndex:
    """BM25 over a list of texts; scores every document for a query in one sparse product."""

    def __init__(self, texts: list[str], term_lists: list[list[str]] | None = None):
        """Index ``texts``; pass their ``term_lists`` (as ``terms`` gives them) to skip tokenising."""
        import bm25s

        # bm25s sets its logger to DEBUG on import; let the application's logging decide.
        logging.getLogger("bm25s").setLevel(logging.NOTSET)
        if term_lists is None:
            term_lists = [terms(text) for text in texts]
        self.size = len(term_lists)
        self._vocab: dict[str, int] = {}
        corpus_ids: list[list[int]] = []
        for words in term_lists:
            corpus_ids.append([self._vocab.setdefault(t, len(self._vocab)) for t in words])
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25s.tokenization.Tokenized(ids=corpus_ids, vocab=self._vocab), show_progress=False)
        df = np.zeros(len(self._vocab), dtype=np.float32)
        for ids in corpus_ids:
            df[list(set(ids))] += 1
        n = max(1, self.size)
        self._idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (zeros when no term is known)."""
        known = [t for t in terms(query) if t in self._vocab]
        if not known or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def idf(self, term: str) -> float:
        """Inverse document frequency of a term; unseen terms weigh as the rarest."""
        index = self._vocab.get(term)
        if index is None:
            return math.log1p(self.size + 0.5) if self.size else 1.0
        return float(self._idf[index])
