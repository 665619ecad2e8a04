"""The trained answer model: which candidate sentence answers, where its short answer is, and how sure.

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2 (see rag/models/MODEL_CARD.md and
eval/train_answer_model.py) reads ``[CLS] question [SEP] headline, previous sentence [SEP]
sentence [SEP]`` and gives the probability that the sentence answers the question (from the
first token) and start/end logits over the sentence's tokens. It ships as one int8 ONNX file
and runs in ONNX Runtime, one call per candidate (``AnswerModel.score``).

Its inputs are built by rag/answer/reading.py, for training and serving alike; how its outputs
become a ranking and a refusal is rag/answer/calibration.py; the answer chosen from them,
rag/answer/verdict.py.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.answer.calibration import Calibration
from rag.answer.reading import Encoded, InputLimits, encode_pairs, load_tokenizer, read_in_windows, reading_limits

MODEL_FILE = Path(__file__).resolve().parent.parent / "models" / "answer-minilm.onnx"
MAX_SPAN_TOKENS = 16  # longer short answers are rare in SQuAD (p99 under 16 word pieces)
# How the block-quantised down-projections run, by whether the CPU has int8 dot products. With
# them (AVX-512 VNNI, 2026-12-02), per channel: 19.0 -> 13.1 ms a call, Engine.ask p50 26.2 ->
# 22.9 ms, the same answers within noise (MODEL_CARD.md, "Down-projections per channel").
# Without them, in float: ONNX Runtime's block kernel is the slow path there.
BLOCKS_BY_CPU = {True: "per-channel", False: "float"}


@dataclass(frozen=True)
class PairScore:
    probability: float  # that the sentence answers the question
    span: tuple[int, int] | None  # character range inside the sentence, None when not confident
    span_confidence: float  # P(start) * P(end) of the best span
    start_logit: float
    end_logit: float


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
                 blocks: str | None = None, workers: int = 1, cache_dir: Path | None = None,
                 windows: bool = True, split: bool = True):
        """``threads``: each call's own pool; ``workers``: candidates scored at once, one call each
        (``score``); ``windows``: read a sentence longer than the model's limit in windows
        (``sentence_windows``), not only its start; ``blocks``: how the 8-bit block-quantised
        feed-forward down-projections run (rag/encode/block_matmul.py): "int8" as stored, "float",
        or "per-channel"; None: per channel where the CPU has int8 dot products, in float where it
        has not, the faster of the two on each (``BLOCKS_BY_CPU``); ``cache_dir``: where a
        rewritten copy is made once (``cpu_session``); ``split``: its fused layer norms and GELUs
        run as standard operators, the faster kernels (rag/encode/split_fusions.py)."""
        from rag.encode.cpu import has_int8_dot_product
        from rag.encode.onnx_backend import cpu_session  # onnxruntime loads with the model, not at import

        path = Path(path)
        if not path.is_file():
            from rag.errors import IndexStateError

            fix = "reinstall the package" if path == MODEL_FILE else "check RAG_ANSWER_MODEL"
            raise IndexStateError(f"the answer model {path} is missing: {fix} or set RAG_ANSWERER=heuristic")
        self.blocks = BLOCKS_BY_CPU[has_int8_dot_product()] if blocks is None else blocks
        self._session = cpu_session(path, threads, self.blocks, cache_dir, split=split)
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

