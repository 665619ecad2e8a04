"""The answer model's training pairs as a step reads them: tokenised once and cached
(``EncodedPairs``), long sentences split into the windows the engine reads (``window_pairs``),
span targets (``span_labels``), and the batches of an epoch, by length (``batch_plan``) or by
question for the listwise loss (``question_groups``, ``group_plan``). Numpy only: the training
loop in eval/train_answer_model.py turns a batch into tensors."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.answer.reading import DEFAULT_LIMITS, InputLimits, encode_pairs, read_in_windows
from rag.fileio import write_atomic

BUCKET = 64  # batches whose pairs are sorted by length together: little padding, still shuffled


def span_labels(encoded, pairs) -> np.ndarray:
    """Token positions (in the whole input) of each positive's answer; -1 where there is none
    or the answer lies past the sentence's cut."""
    labels = np.full((len(pairs), 2), -1, dtype=np.int64)
    for k, pair in enumerate(pairs):
        if pair.label != 1 or pair.answer_start < 0:
            continue
        offsets = encoded.sentence_offsets[k]
        starts = np.flatnonzero(offsets[:, 1] > pair.answer_start)
        ends = np.flatnonzero(offsets[:, 0] < pair.answer_end)
        if len(starts) and len(ends) and starts[0] <= ends[-1] and offsets[-1, 1] >= pair.answer_end:
            labels[k] = (encoded.sentence_start[k] + starts[0], encoded.sentence_start[k] + ends[-1])
    return labels


def window_pairs(tokenizer, pairs, limits: InputLimits = DEFAULT_LIMITS) -> list:
    """``pairs`` as the engine reads them with windows: a sentence longer than the model reads
    (``sentence_windows``) becomes one pair per window, each after the first with the sentence's
    words before it as its context. A positive's window holding its whole answer keeps label 1 and
    the span; its other windows are negatives (the engine takes a sentence's best window). Where no
    window holds the whole answer, the one where it starts keeps label 1 without a span.

    Why: cut at 64 pieces, a positive whose answer lies past the cut trained the answer head with
    no span target (about 2% of positives), and no window with its sentence's start as context was
    ever seen in training, though the engine has read long sentences that way since 2026-12-02."""
    out = []
    for pair in pairs:
        windows = read_in_windows(tokenizer, pair.context, pair.sentence, limits)
        if len(windows) == 1:
            out.append(pair)
            continue
        ends = [start + len(text) for start, _, text in windows]
        holding = [k for k, (start, _, _) in enumerate(windows)
                   if start <= pair.answer_start and pair.answer_end <= ends[k]]
        starts_in = [k for k, (start, _, _) in enumerate(windows) if start <= pair.answer_start < ends[k]]
        target = (holding or starts_in or [0])[0] if pair.label == 1 else -1
        for k, (start, context, text) in enumerate(windows):
            spanned = k == target and bool(holding)
            out.append(replace(pair, sentence=text, context=context, label=int(k == target),
                               answer_start=pair.answer_start - start if spanned else -1,
                               answer_end=pair.answer_end - start if spanned else -1))
    return out


def batch_plan(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The batches of one epoch: a seeded shuffle, pairs of similar length batched together."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches = []
    group = batch_size * BUCKET
    for g in range(0, len(order), group):
        part = order[g:g + group]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class EncodedPairs:
    """Every training pair tokenised once (unpadded, in flat arrays), so that a step only pads
    and copies; saved next to the data so that several runs over it tokenise it once."""

    FIELDS = ("ids", "starts", "first", "sentence_start", "sentence_len", "spans")

    def __init__(self, ids, starts, first, sentence_start, sentence_len, spans):
        self.ids, self.starts, self.first = ids, starts, first
        self.sentence_start, self.sentence_len, self.spans = sentence_start, sentence_len, spans
        self.lengths = np.diff(starts)  # once: every step reads it

    @classmethod
    def build(cls, tokenizer, pairs, limits: InputLimits, chunk: int = 4096) -> EncodedPairs:
        ids, lengths, first, s_start, s_len, spans = [], [], [], [], [], []
        for i in range(0, len(pairs), chunk):
            part = pairs[i:i + chunk]
            encoded = encode_pairs(tokenizer, [p.question for p in part], [p.context for p in part],
                                   [p.sentence for p in part], limits)
            n = encoded.attention_mask.sum(axis=1)
            ids += [row[:k].astype(np.int32) for row, k in zip(encoded.input_ids, n)]
            lengths.append(n)
            first.append((encoded.token_type_ids == 0).sum(axis=1) - (encoded.attention_mask == 0).sum(axis=1))
            s_start += encoded.sentence_start
            s_len += [len(o) for o in encoded.sentence_offsets]
            spans.append(span_labels(encoded, part))
            if len(pairs) > 8 * chunk and (i // chunk) % 25 == 0:
                print(f"tokenised {i + len(part)}/{len(pairs)} pairs", file=sys.stderr, flush=True)
        lengths = np.concatenate(lengths)
        return cls(np.concatenate(ids), np.concatenate([[0], np.cumsum(lengths)]), np.concatenate(first),
                   np.array(s_start), np.array(s_len), np.concatenate(spans))

    @classmethod
    def cached(cls, tokenizer, pairs, limits: InputLimits, path: Path) -> EncodedPairs:
        """The pairs' encoding from ``path`` when it was made from the same pairs and limits, else built and saved."""
        key = np.array([len(pairs), *limits.__dict__.values(), hash_pairs(pairs)], dtype=np.int64)
        if path.is_file():
            with np.load(path) as saved:
                if np.array_equal(saved["key"], key):
                    return cls(*(saved[f] for f in cls.FIELDS))
        made = cls.build(tokenizer, pairs, limits)
        buffer = io.BytesIO()
        np.savez(buffer, key=key, **{f: getattr(made, f) for f in cls.FIELDS})
        write_atomic(path, buffer.getvalue())
        return made

    def batch(self, rows: np.ndarray, torch):
        """Padded (input_ids, attention_mask, token_type_ids), the sentence mask and span labels of ``rows``."""
        n = self.lengths[rows]
        width = int(n.max())
        ids = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros_like(ids)
        sentence = np.zeros(ids.shape, dtype=bool)
        for k, r in enumerate(rows):
            ids[k, :n[k]] = self.ids[self.starts[r]:self.starts[r + 1]]
            types[k, self.first[r]:n[k]] = 1
            sentence[k, self.sentence_start[r]:self.sentence_start[r] + self.sentence_len[r]] = True
        mask = (np.arange(width)[None, :] < n[:, None]).astype(np.int64)
        as_t = torch.from_numpy
        return (as_t(ids), as_t(mask), as_t(types)), as_t(sentence), as_t(self.spans[rows])


def hash_pairs(pairs) -> int:
    """A short fingerprint of the pairs' text and labels (the encoding cache's key)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=7)
    for p in pairs:
        digest.update(f"{p.question}\t{p.context}\t{p.sentence}\t{p.label}\t{p.answer_start}\n".encode())
    return int.from_bytes(digest.digest(), "little")


def question_groups(pairs) -> list[np.ndarray]:
    """Pair indexes per asked question (qid and wording: a swapped question is a group of its own),
    the answer sentence first."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault((p.qid, p.question), []).append(i)
    return [np.array(sorted(g, key=lambda i: -pairs[i].label)) for g in groups.values()]


def group_plan(groups: list[np.ndarray], labels: np.ndarray, per_group: int, groups_per_batch: int,
               seed: int, epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batches of one epoch for the listwise loss: whole questions in a seeded order, each
    with its answer sentence (if any) and up to ``per_group`` candidates in all, negatives drawn
    anew each epoch. Per batch: the pair rows and each row's slot (group in batch, place in group)."""
    rng = np.random.default_rng([seed, epoch, per_group])
    batches = []
    order = rng.permutation(len(groups))
    for b in range(0, len(order), groups_per_batch):
        rows, slots = [], []
        for g, index in enumerate(order[b:b + groups_per_batch]):
            members = groups[index]
            positives = members[labels[members] == 1][:1]
            negatives = members[labels[members] == 0]
            take = rng.permutation(len(negatives))[:per_group - len(positives)]
            chosen = np.concatenate([positives, negatives[np.sort(take)]])
            rows.append(chosen)
            slots += [(g, k) for k in range(len(chosen))]
        batches.append((np.concatenate(rows), np.array(slots, dtype=np.int64)))
    return batches
