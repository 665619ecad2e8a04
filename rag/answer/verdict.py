"""The answer chosen with the model: its view of the first stage's best candidates (``judge_candidates``),
the sentences cited (``select_by_model``: the best one, others nearly as probable, support the
model did not read) or a refusal, and the short answer from the best sentence's span head."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.answer.calibration import Calibration, logit
from rag.answer.model import AnswerModel, PairScore
from rag.answer.question import Question
from rag.answer.reading import context_text
from rag.answer.select import REDUNDANT_COSINE, RELATIVE_CUTOFF, redundant

MODEL_RELATIVE_CUTOFF = 0.5  # further sentences need at least this share of the best probability
_SPAN_TRIM = " \t,;:\"'“”‘’"


@dataclass(frozen=True)
class ModelVerdict:
    """The model's view of a question's candidates, best first (model logit plus the heuristic score)."""

    candidates: list  # the first stage's ScoredSentence objects, in the model's order
    scores: list[PairScore]
    calibration: Calibration = Calibration()

    @property
    def best_probability(self) -> float:
        return self.scores[0].probability if self.scores else 0.0

    @property
    def confidence(self) -> float:
        """The calibrated probability that the chosen sentence answers (what refusal compares)."""
        if not self.scores:
            return 0.0
        return self.calibration.confidence([s.probability for s in self.scores], self.candidates[0])


def judge_candidates(model: AnswerModel, question: Question, scored: list, sentences, titles: dict[str, str],
                     n_candidates: int) -> ModelVerdict:
    """Score the first stage's best ``n_candidates`` sentences with the model, in one batch."""
    kept = scored[:n_candidates]
    contexts, texts = [], []
    for c in kept:
        s = sentences[c.index]
        before = sentences[c.index - 1] if c.index > 0 else None
        previous = before.text if before is not None and before.bulletin_id == s.bulletin_id else ""
        contexts.append(context_text(titles.get(s.bulletin_id, ""), previous))
        texts.append(s.text)
    scores = model.score(question.asked, contexts, texts)
    weight = model.calibration.heuristic_weight
    rank = [logit(s.probability) + weight * c.score for s, c in zip(scores, kept)]
    order = sorted(range(len(kept)), key=lambda k: -rank[k])
    return ModelVerdict([kept[k] for k in order], [scores[k] for k in order], model.calibration)


def select_by_model(verdict: ModelVerdict, scored: list, sentence_vectors: np.ndarray, max_sentences: int,
                    threshold: float | None = None, redundant_cosine: float = REDUNDANT_COSINE) -> list:
    """The best sentence and others nearly as probable and not redundant; none when the verdict's
    confidence is below ``threshold`` (None: the model's calibrated one).

    Sentences the model did not read (the first stage's ``scored`` beyond its candidates) may then
    follow as support, by the heuristic answerer's own rule: at least ``RELATIVE_CUTOFF`` of the
    first stage's best score. The model reads only the best N, so an answer sentence ranked lower
    would otherwise never be cited (held-out SQuAD training articles, N=2: a gold answer in the
    answer 80.0% -> 83.2%, 1.3 -> 1.7 sentences; MODEL_CARD.md).
    """
    if threshold is None:
        threshold = verdict.calibration.threshold
    if not verdict.scores or verdict.confidence < threshold:
        return []
    chosen = [verdict.candidates[0]]
    floor = MODEL_RELATIVE_CUTOFF * verdict.best_probability
    for candidate, score in zip(verdict.candidates[1:], verdict.scores[1:]):
        if len(chosen) >= max_sentences or score.probability < floor:
            break
        if not redundant(candidate.index, [c.index for c in chosen], sentence_vectors, redundant_cosine):
            chosen.append(candidate)
    judged = {c.index for c in verdict.candidates}
    support_floor = RELATIVE_CUTOFF * scored[0].score if scored else 0.0
    for candidate in scored:
        if len(chosen) >= max_sentences or candidate.score < support_floor:
            break
        if candidate.index not in judged and not redundant(candidate.index, [c.index for c in chosen],
                                                            sentence_vectors, redundant_cosine):
            chosen.append(candidate)
    return chosen


def model_span(verdict: ModelVerdict, sentences) -> str | None:
    """The short answer from the best sentence's span head, verbatim; None when it is not confident."""
    if not verdict.scores or verdict.scores[0].span is None:
        return None
    start, end = verdict.scores[0].span
    text = sentences[verdict.candidates[0].index].text
    while start < end and text[start] in _SPAN_TRIM:
        start += 1
    while end > start and text[end - 1] in _SPAN_TRIM:
        end -= 1
    return text[start:end] or None
