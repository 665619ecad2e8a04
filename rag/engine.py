"""The engine: opens (or builds) the index for a corpus and answers questions from it.

An ``Engine`` is an immutable snapshot of one index generation. Changing the corpus builds a
new engine (reusing the embedder and cached vectors); callers swap the reference.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import indexing, store
from .answer import compose_answer, score_sentences, select_sentences
from .answer_model import AnswerModel, judge_candidates, model_span, select_by_model
from .config import ANSWERERS, MODES, PROJECT_ROOT, Settings
from .corpus import SourceFile, read_corpus
from .embedding import Embedder
from .errors import CorpusError, IndexStateError, NotFoundError, QueryError
from .inputs import check_encodable, is_blank, strip_blank
from .lexical import LexicalIndex
from .multilingual import latin_part, question_language, span_question
from .records import Answer, Bulletin, Passage
from .retrieval import Filters, Retriever
from .store import StoredIndex

log = logging.getLogger(__name__)
MAX_TOP_K = 50


def load_embedder(settings: Settings) -> Embedder:
    if settings.multilingual:
        from .e5_backend import E5Embedder

        return E5Embedder(query_threads=settings.query_threads, index_threads=settings.index_threads)
    return Embedder(settings.model_path, backend=settings.backend, batch_size=settings.batch_size,
                    query_threads=settings.query_threads, index_threads=settings.index_threads,
                    name=settings.model_name, cache_dir=Path(settings.index) / "models")


def load_answer_model(settings: Settings) -> AnswerModel | None:
    """The trained answer model when the settings ask for it (loaded once per engine family)."""
    if settings.answerer != "model":
        return None
    return AnswerModel(threads=settings.query_threads, span_threshold=settings.span_threshold)


def read_sources(settings: Settings) -> list[SourceFile]:
    """The corpus: every bulletin file under the seeds folder and the uploads folder."""
    files = _labelled(read_corpus(settings.seeds, settings.seeds, max_bytes=settings.max_file_bytes,
                                  extracted=settings.extracted), "seeds")
    if settings.uploads.is_dir():
        files += _labelled(read_corpus(settings.uploads, settings.uploads, single=True,
                                       max_bytes=settings.max_file_bytes, extracted=settings.extracted), "uploads")
    if not files:
        raise CorpusError(f"no bulletins found: {settings.seeds} has no readable .txt, .md, .pdf, .html or "
                          ".docx file")
    return files


def upload_source(name: str) -> str:
    """How users see the uploaded file ``name``: relative to the uploads folder, like every source."""
    return f"uploads/{name}"


def _labelled(files: list[SourceFile], label: str) -> list[SourceFile]:
    """Sources shown relative to their folder (read as ``./file``), never as server paths."""
    return [relabel_extracted(replace(f, source=f"{label}/{f.source.removeprefix('./')}")) for f in files]


def relabel_extracted(f: SourceFile) -> SourceFile:
    """A PDF, web page or Word file's extracted text shown as ``index/extracted/name-hash.txt``
    (under the index folder, wherever it is), never as a server path."""
    return replace(f, extracted_source=f"index/extracted/{f.extracted_path.name}") if f.extracted_path else f


@dataclass
class OpenReport:
    rebuilt: bool
    reason: str  # why it was rebuilt, or "" when loaded as is
    seconds: float


class Engine:
    def __init__(self, settings: Settings, embedder: Embedder, files: list[SourceFile],
                 stored: StoredIndex, vector_index, *, lexical: LexicalIndex | None = None,
                 verified: int = 0, answer_model: AnswerModel | None = None):
        """``lexical``: the BM25 index of ``stored`` if already built; ``verified``: how many of
        its sentences are known to slice out of their files (the rest are checked)."""
        self.settings = settings
        self.embedder = embedder
        self.answer_model = answer_model or load_answer_model(settings)
        self.files = {f.source: f for f in files}
        self.stored = stored
        self.bulletins = {b.id: b for b in stored.bulletins}
        self._verify_offsets(verified)
        self.titles = titles = {b.id: b.title for b in stored.bulletins}
        if lexical is None:
            saved = None if stored.chunk_terms is None else [t.split() for t in stored.chunk_terms]
            lexical = LexicalIndex([indexing.chunk_embedding_text(titles[c.bulletin_id], c.text)
                                    for c in stored.chunks], saved)
        self.lexical = lexical
        self.retriever = Retriever(stored.chunk_vectors, vector_index, self.lexical,
                                   [c.bulletin_id for c in stored.chunks],
                                   {b.id: b.date for b in stored.bulletins}, settings.query_threads)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None, *, rebuild: bool = False,
             reuse: bool = False, progress: indexing.Progress | None = None, files: list[SourceFile] | None = None,
             current: "Engine | None" = None, split_many: indexing.SplitMany | None = None
             ) -> tuple["Engine", OpenReport]:
        """Load the index for the corpus, rebuilding it when missing, stale, broken or asked to.

        A rebuild reuses the vectors and splits of the previous index only if it passed every
        check (checksums, records, offsets), and a requested ``rebuild`` re-embeds everything
        unless ``reuse``. ``current``, an engine already in memory, stands in for the index on
        disk (live updates). ``split_many`` and a bulk ``embedder`` run a build elsewhere
        (``rag index --ray``); the generation written is the same.
        """
        started = time.perf_counter()
        shared = {"answer_model": current.answer_model} if current else {}
        files = read_sources(settings) if files is None else files
        embedder = embedder or load_embedder(settings)
        expected = indexing.manifest_for(settings, files)
        loaded, reason, previous = None, "rebuild requested" if rebuild else "", None
        try:
            loaded = (current.stored, current.retriever.vector_index) if current else store.load(settings.index)
        except IndexStateError as exc:
            log.warning("the index in %s is broken, rebuilding it: %s", settings.index, exc)
            reason = f"the index is broken ({exc})"
        if loaded is None and not reason:
            reason = "there is no index yet"
        if loaded is not None:
            previous = loaded[0]
            reason = reason or indexing.stale_reason(previous.manifest, expected) or ""
            if not reason and previous.manifest.get("dimension") != embedder.dimension:
                reason = "the embedding dimension changed"
            if not reason and previous.manifest.get("backend", embedder.backend) != embedder.backend:
                reason = "the embedding backend changed"
        if not reason:
            try:
                engine = cls(settings, embedder, files, *loaded, **shared)
                return engine, OpenReport(False, "", time.perf_counter() - started)
            except IndexStateError as exc:  # records that no longer slice out of the files
                log.warning("the index in %s is broken, rebuilding it: %s", settings.index, exc)
                reason, previous = f"the index is broken ({exc})", None
        if rebuild and not reuse:
            previous = None
        try:
            engine, reason = cls._rebuilt(settings, embedder, files, previous, loaded, reason, progress, shared,
                                          split_many)
        except _RecordsMismatch as exc:
            if previous is None:
                raise
            log.warning("the previous index of %s failed a check (%s): building from scratch", settings.index, exc)
            engine, reason = cls._rebuilt(settings, embedder, files, None, None, f"{reason}; {exc}", progress,
                                          shared, split_many)
        return engine, OpenReport(True, reason, time.perf_counter() - started)

    @classmethod
    def _rebuilt(cls, settings, embedder, files, previous, loaded, reason, progress,
                 shared: dict, split_many=None) -> tuple["Engine", str]:
        """An engine over a new index generation: ``previous`` plus the added files when that is
        possible, else built anew reusing what ``previous`` holds (nothing if ``None``)."""
        if previous is not None and reason == "the bulletins changed":
            added = indexing.added_files(previous, files)
            if added and indexing.can_append(settings, previous, loaded[1], added):
                log.info("appending %d new files to the index in %s", len(added), settings.index)
                stored, vector_index = indexing.append(settings, previous, loaded[1], added, embedder)
                engine = cls(settings, embedder, files, stored, vector_index, **shared)
                return engine, f"{reason}: {len(added)} new file{'s' * (len(added) != 1)} appended"
        log.info("building the index in %s: %s", settings.index, reason)
        stored, vector_index = indexing.build(settings, files, embedder, previous, progress, split_many)
        return cls(settings, embedder, files, stored, vector_index, **shared), reason

    def with_files(self, files: list[SourceFile]) -> tuple["Engine", OpenReport]:
        """A new engine that also holds ``files`` (new sources), appended to the index on disk when
        that is possible, else rebuilt with every unchanged vector reused; this one is unchanged."""
        started = time.perf_counter()
        stored, vector_index = self.stored, self.retriever.vector_index
        if not indexing.can_append(self.settings, stored, vector_index, files):
            every = {**self.files, **{f.source: f for f in files}}
            return Engine.open(self.settings, self.embedder, files=list(every.values()), current=self)
        grown, grown_index = indexing.append(self.settings, stored, vector_index, files, self.embedder)
        added = grown.chunk_terms[len(stored.chunks):]
        engine = Engine(self.settings, self.embedder, [*self.files.values(), *files], grown, grown_index,
                        lexical=self.lexical.extended([t.split() for t in added]),
                        verified=len(stored.sentences), answer_model=self.answer_model)
        return engine, OpenReport(False, "appended", time.perf_counter() - started)

    def _verify_offsets(self, start: int = 0) -> None:
        """Every stored sentence must still slice out of its file: never serve a broken citation."""
        for s in self.stored.sentences[start:]:
            source = self.bulletins[s.bulletin_id].source
            f = self.files.get(source)
            if f is None or f.text[s.char_start:s.char_end] != s.text:
                raise _RecordsMismatch(f"index records no longer match {source}: rebuild with `rag index`")

    # --- questions -------------------------------------------------------------------------

    def check_query(self, question: str, top_k: int | None, mode: str | None) -> tuple[str, int, str]:
        if not isinstance(question, str) or is_blank(question):
            raise QueryError("the question is empty: ask something, e.g. rag ask \"Who leads the committee?\"")
        check_encodable(question, "question")  # a lone surrogate would crash the tokenizer
        if len(question) > self.settings.max_question_chars:
            raise QueryError(f"the question is {len(question)} characters long; the limit is "
                             f"{self.settings.max_question_chars}")
        top_k = self.settings.top_k if top_k is None else top_k
        if not 1 <= top_k <= MAX_TOP_K:
            raise QueryError(f"top_k must be between 1 and {MAX_TOP_K}")
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        return strip_blank(question), top_k, mode

    def check_filters(self, filters: Filters) -> None:
        for bid in filters.bulletin_ids or ():
            if bid not in self.bulletins:
                raise NotFoundError(f"unknown bulletin id {bid!r}: GET /bulletins lists them")

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
        passages, ranked, vector = self.search(question, top_k, mode, filters)
        question = strip_blank(question)
        if vector is None:  # bm25 mode still scores sentences by meaning
            vector = self.embedder.encode_query(question)
        retrieved = time.perf_counter()
        stored = self.stored
        lang = question_language(question)
        matching = _matching_question(question, lang)
        scored = score_sentences(matching, vector, ranked, stored.chunks, stored.sentences,
                                 stored.sentence_vectors, self.lexical, self.titles)
        if answerer == "model" and lang == "en":  # the model reads English questions only
            verdict = judge_candidates(self.answer_model, question, scored, stored.sentences, self.titles,
                                       self.settings.answer_candidates)
            chosen = select_by_model(verdict, stored.sentence_vectors, self.settings.max_sentences,
                                     self.settings.model_threshold)
            answer = compose_answer(question, chosen, stored.sentences, self.bulletins, passages)
            if chosen:
                answer = replace(answer, span=model_span(verdict, stored.sentences))
            answer = replace(answer, lang=lang)
        else:
            threshold = self.settings.abstain_threshold if lang == "en" else self.settings.cross_lingual_threshold
            chosen = select_sentences(scored, stored.sentence_vectors, self.settings.max_sentences, threshold)
            answer = compose_answer(matching, chosen, stored.sentences, self.bulletins, passages)
            # The quotes stay English; another language's question gets a short span only where the
            # kind of phrase it asks for is one the span picker knows.
            spans = lang == "en" or span_question(question) is not None
            answer = replace(answer, question=question, span=answer.span if spans else None, lang=lang)
        answer = replace(answer, citations=[self._located(c) for c in answer.citations])
        for citation in answer.citations:  # the invariant, checked on every answer
            text = self.files[citation.source].text
            if text[citation.char_start:citation.char_end] != citation.quote:
                raise IndexStateError("a citation no longer matches its source: rebuild with `rag index`")
        done = time.perf_counter()
        answer.timings_ms.update(retrieve=_ms(retrieved - started), answer=_ms(done - retrieved),
                                 total=_ms(done - started))
        return answer

    def explain(self, question: str, top_k: int | None = None, mode: str | None = None,
                filters: Filters = Filters(), answerer: str | None = None) -> list[dict]:
        """Each candidate sentence's score parts, best first (for tuning and ``rag ask --explain``);
        with the model answerer, its candidates in its order with probability, span and span logits."""
        answerer = self._answerer(answerer)
        _, ranked, vector = self.search(question, top_k, mode, filters)
        if vector is None:
            vector = self.embedder.encode_query(strip_blank(question))
        stored = self.stored
        question = question.strip()
        scored = score_sentences(_matching_question(question, question_language(question)), vector,
                                 ranked, stored.chunks, stored.sentences, stored.sentence_vectors,
                                 self.lexical, self.titles)
        rows = {s.index: {"score": round(s.score, 4), "dense": round(s.dense, 4), "lexical": round(s.lexical, 4),
                          "passage": round(s.passage, 4), "relevance": round(s.relevance, 4), "type_fit": s.type_fit,
                          "text": stored.sentences[s.index].text} for s in scored}
        if answerer != "model":
            return list(rows.values())
        verdict = judge_candidates(self.answer_model, question, scored, stored.sentences, self.titles,
                                   self.settings.answer_candidates)
        out = []
        for c, p in zip(verdict.candidates, verdict.scores):
            text = stored.sentences[c.index].text
            out.append({"probability": round(p.probability, 4), "span": text[p.span[0]:p.span[1]] if p.span else None,
                        "span_confidence": round(p.span_confidence, 4), "start_logit": round(p.start_logit, 3),
                        "end_logit": round(p.end_logit, 3), **rows[c.index]})
        return out

    def _answerer(self, answerer: str | None) -> str:
        answerer = answerer or self.settings.answerer
        if answerer not in ANSWERERS:
            raise QueryError(f"unknown answerer {answerer!r}: use one of {', '.join(ANSWERERS)}")
        if answerer == "model" and self.answer_model is None:
            raise QueryError("the model answerer is not loaded: set RAG_ANSWERER=model")
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
        c = self.stored.chunks[chunk_index]
        b = self.bulletins[c.bulletin_id]
        return self._located(Passage(b.id, b.title, b.source, c.char_start, c.char_end, c.text, round(float(score), 6)))

    def _located(self, record):
        """``record`` (a citation or passage) with the file its offsets slice and, in a PDF, its page."""
        f = self.files[record.source]
        return replace(record, text_source=f.text_source, page=f.page_of(record.char_start))


def _matching_question(question: str, lang: str) -> str:
    """What answer scoring and the span picker read: an English question as asked; another
    language's, its Latin-script words after the English wh-phrase of the kind it asks for
    (``multilingual.span_question``), or those words alone."""
    if lang == "en":
        return question
    stand_in = span_question(question)
    return stand_in if stand_in is not None else latin_part(question)


class _RecordsMismatch(IndexStateError):
    """Stored sentences that do not slice out of their files (records damaged or files changed)."""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
