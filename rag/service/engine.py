"""The engine: answers questions from one index generation (ask, search, explain, chat).

An ``Engine`` is an immutable snapshot of one ``Index``. Opening, building and appending to the
index is ``rag/service/lifecycle.py``'s job: a changed corpus gets a new engine, and callers swap the
reference.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from rag.answer.followup import resolve_question
from rag.answer.model import AnswerModel
from rag.answer.multilingual import latin_part
from rag.answer.question import Question, parse_question
from rag.answer.select import ScoredSentence, compose_answer, score_sentences, select_sentences
from rag.answer.verdict import judge_candidates, model_span, select_by_model
from rag.config import ANSWERERS, MODES, Settings
from rag.encode.embedding import Embedder
from rag.errors import NotFoundError, QueryError, StaleRecordsError
from rag.index.corpus_index import Index
from rag.ingest.files import SourceFile
from rag.inputs import check_encodable, is_blank, strip_blank
from rag.records import Answer, Bulletin, ChatAnswer, Passage
from rag.search.hybrid import Filters, Retriever, SentenceMatch
from rag.service.answer_cache import AnswerCache


class Engine:
    def __init__(self, settings: Settings, embedder: Embedder, files: list[SourceFile], index: Index,
                 answer_model: AnswerModel | None = None):
        """``index`` must already be verified against ``files`` (``lifecycle.verify``);
        ``answer_model``: the trained answer model, when the settings ask for it."""
        self.settings = settings
        self.embedder = embedder
        self.answer_model = answer_model
        self.files = {f.source: f for f in files}
        self.index = index
        self.bulletins = {b.id: b for b in index.bulletins}
        self.titles = {b.id: b.title for b in index.bulletins}
        self.retriever = Retriever(index.chunk_vectors, index.vectors, index.lexical,
                                   [c.bulletin_id for c in index.chunks],
                                   {b.id: b.date for b in index.bulletins}, settings.query_threads,
                                   SentenceMatch(index.sentence_vectors, [c.sentence_ids for c in index.chunks]),
                                   settings.hybrid_weight)
        self.answers = AnswerCache(settings.answer_cache)

    # --- questions -------------------------------------------------------------------------

    def check_query(self, question: str, top_k: int | None, mode: str | None) -> tuple[str, int, str]:
        if not isinstance(question, str) or is_blank(question):
            raise QueryError("the question is empty")
        check_encodable(question, "question")  # a lone surrogate would crash the tokenizer
        if len(question) > self.settings.max_question_chars:
            raise QueryError(f"the question is {len(question)} characters long; the limit is "
                             f"{self.settings.max_question_chars}")
        top_k = self.settings.top_k if top_k is None else top_k
        if not 1 <= top_k <= self.settings.max_top_k:
            raise QueryError(f"top_k must be between 1 and {self.settings.max_top_k}")
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        return strip_blank(question), top_k, mode

    def check_filters(self, filters: Filters) -> None:
        for bid in filters.bulletin_ids or ():
            if bid not in self.bulletins:
                raise NotFoundError(f"unknown bulletin id {bid!r}")

    def search(self, question: str, top_k: int | None = None, mode: str | None = None,
               filters: Filters = Filters()) -> tuple[list[Passage], list[tuple[int, float]], np.ndarray]:
        """Ranked passages for a question, with the raw chunk ranking and the question vector."""
        question, top_k, mode = self.check_query(question, top_k, mode)
        self.check_filters(filters)
        vector = self.embedder.encode_query(question) if mode != "bm25" else None
        # BM25 sees the words it can match in English text: all of an English question's
        ranked = self.retriever.search(latin_part(question), vector, mode, top_k, filters)
        return [self._passage(i, score) for i, score in ranked], ranked, vector

    def ask(self, question: str, top_k: int | None = None, mode: str | None = None,
            filters: Filters = Filters(), answerer: str | None = None) -> Answer:
        """A cited extractive answer, or an abstention with the nearest passages.

        ``answerer`` overrides the settings' (``rag eval`` compares both on one engine)."""
        started = time.perf_counter()
        answerer = self._answerer(answerer)
        # Checked before the cache is asked, so a bad request is refused the same way every time.
        question, top_k, mode = self.check_query(question, top_k, mode)
        self.check_filters(filters)
        ids = None if filters.bulletin_ids is None else frozenset(filters.bulletin_ids)
        key = (question, top_k, mode, answerer, ids, filters.date_from, filters.date_to)
        cached = self.answers.get(key)
        if cached is not None:
            took = _ms(time.perf_counter() - started)
            return replace(cached, timings_ms={"cache": took, "total": took})
        c = self._candidates(question, top_k, mode, filters)
        parsed, scored, index = c.question, c.scored, self.index
        if answerer == "model" and parsed.lang == "en":  # the model reads English questions only
            verdict = judge_candidates(self.answer_model, parsed, scored, index.sentences, self.titles,
                                       self.settings.answer_candidates)
            chosen = select_by_model(verdict, scored, index.sentence_vectors, self.settings.max_sentences,
                                     self.settings.model_threshold)
            answer = compose_answer(parsed, chosen, index.sentences, self.bulletins, c.passages)
            if chosen:
                answer = replace(answer, span=model_span(verdict, index.sentences))
            answer = replace(answer, lang=parsed.lang, confidence=round(verdict.confidence, 4))
        else:
            threshold = (self.settings.abstain_threshold if parsed.lang == "en"
                         else self.settings.cross_lingual_threshold)
            chosen = select_sentences(scored, index.sentence_vectors, self.settings.max_sentences, threshold)
            answer = compose_answer(parsed, chosen, index.sentences, self.bulletins, c.passages)
            # The quotes stay English; another language's question gets a short span only where the
            # kind of phrase it asks for is one the span picker knows.
            answer = replace(answer, question=parsed.asked, span=answer.span if parsed.spans else None,
                             lang=parsed.lang)
        answer = replace(answer, citations=[self._located(c) for c in answer.citations])
        for citation in answer.citations:  # the invariant, checked on every answer
            text = self.files[citation.source].text
            if text[citation.char_start:citation.char_end] != citation.quote:
                raise StaleRecordsError(f"a citation no longer matches its source {citation.source}")
        done = time.perf_counter()
        answer.timings_ms.update(retrieve=_ms(c.retrieved - started), answer=_ms(done - c.retrieved),
                                 total=_ms(done - started))
        self.answers.put(key, answer)
        return answer

    def chat(self, messages: list[tuple[str, str]], top_k: int | None = None, mode: str | None = None,
             filters: Filters = Filters()) -> ChatAnswer:
        """The answer to the last user turn of ``messages`` (``(role, content)`` pairs); a follow-up
        ("And who presided over it?") is searched with the topic of the earlier user turns."""
        users = [content for role, content in messages if role == "user"]
        if not users:
            raise QueryError("messages hold no user question")
        last = users[-1]
        self.check_query(last, top_k, mode)  # limits apply to what the user typed
        searched = resolve_question(messages)
        answer = self.ask(searched, top_k, mode, filters)
        return ChatAnswer(**{**asdict(answer), "question": last.strip(),
                             "citations": answer.citations, "passages": answer.passages},
                          searched_question=searched)

    def explain(self, question: str, top_k: int | None = None, mode: str | None = None,
                filters: Filters = Filters(), answerer: str | None = None) -> list[dict]:
        """Each candidate sentence's score parts, best first (for tuning and ``rag ask --explain``);
        with the model answerer, its candidates in its order with probability, span and span logits."""
        answerer = self._answerer(answerer)
        c = self._candidates(question, top_k, mode, filters)
        sentences = self.index.sentences
        rows = {s.index: {"score": round(s.score, 4), "dense": round(s.dense, 4), "lexical": round(s.lexical, 4),
                          "passage": round(s.passage, 4), "relevance": round(s.relevance, 4), "type_fit": s.type_fit,
                          "text": sentences[s.index].text} for s in c.scored}
        if answerer != "model":
            return list(rows.values())
        verdict = judge_candidates(self.answer_model, c.question, c.scored, sentences, self.titles,
                                   self.settings.answer_candidates)
        out = []
        for candidate, p in zip(verdict.candidates, verdict.scores):
            text = sentences[candidate.index].text
            # confidence: what refusal compares with RAG_MODEL_THRESHOLD, for the chosen (first) sentence
            confidence = {} if out else {"confidence": round(verdict.confidence, 4)}
            out.append({**confidence, "probability": round(p.probability, 4), "span": text[p.span[0]:p.span[1]] if p.span else None,
                        "span_confidence": round(p.span_confidence, 4), "start_logit": round(p.start_logit, 3),
                        "end_logit": round(p.end_logit, 3), **rows[candidate.index]})
        return out

    def _candidates(self, question: str, top_k: int | None, mode: str | None, filters: Filters) -> "_Candidates":
        """Retrieval, then every candidate sentence of the top passages scored (ask and explain share it)."""
        passages, ranked, vector = self.search(question, top_k, mode, filters)
        question = strip_blank(question)
        if vector is None:  # bm25 mode still scores sentences by meaning
            vector = self.embedder.encode_query(question)
        retrieved = time.perf_counter()
        parsed = parse_question(question, vector)
        index = self.index
        scored = score_sentences(parsed, ranked, index.chunks, index.sentences,
                                 index.sentence_vectors, index.lexical, self.titles)
        return _Candidates(parsed, passages, scored, retrieved)

    def _answerer(self, answerer: str | None) -> str:
        answerer = answerer or self.settings.answerer
        if answerer not in ANSWERERS:
            raise QueryError(f"unknown answerer {answerer!r}: use one of {', '.join(ANSWERERS)}")
        if answerer == "model" and self.answer_model is None:
            raise QueryError("the model answerer is not loaded: the engine was opened with the heuristic one")
        return answerer

    # --- bulletins -------------------------------------------------------------------------

    def bulletin(self, bulletin_id: str) -> Bulletin:
        try:
            return self.bulletins[bulletin_id]
        except KeyError:
            raise NotFoundError(f"unknown bulletin id {bulletin_id!r}") from None

    def bulletin_text(self, bulletin_id: str) -> str:
        b = self.bulletin(bulletin_id)
        return self.files[b.source].text[b.char_start:b.char_end]

    def _passage(self, chunk_index: int, score: float) -> Passage:
        c = self.index.chunks[chunk_index]
        b = self.bulletins[c.bulletin_id]
        return self._located(Passage(b.id, b.title, b.source, c.char_start, c.char_end, c.text, round(float(score), 6)))

    def _located(self, record):
        """``record`` (a citation or passage) with the file its offsets slice and, in a PDF, its page."""
        f = self.files[record.source]
        return replace(record, text_source=f.text_source, page=f.page_of(record.char_start))


@dataclass(frozen=True)
class _Candidates:
    question: Question  # parsed once, blanks stripped
    passages: list[Passage]
    scored: list[ScoredSentence]  # best first
    retrieved: float  # time.perf_counter() when retrieval was done


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
