"""Fine-tune the bundled all-MiniLM-L6-v2 into the answer model (rag/answer/model.py).

A cross-encoder over ``[CLS] question [SEP] headline | previous sentence [SEP] sentence [SEP]``
with two heads: the answer logit from the first token, and start/end logits over the tokens
(trained on positives only, masked to the sentence). One pass over the pairs of
eval/answer_data.py, AdamW with linear warm-up and decay. Deterministic given ``--seed`` and
``--threads``; prints progress, checkpoints every few minutes and resumes where it stopped
(``--resume``); ``--minutes`` stops it (with a checkpoint) when its time is up.

    python -m eval.train_answer_model --data /tmp/answer-data --out /tmp/answer-run --minutes 50
    python -m eval.train_answer_model --data /tmp/answer-data --out /tmp/answer-run --resume
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from rag.answer.model import DEFAULT_LIMITS, InputLimits, decode, encode_pairs, load_tokenizer
from rag.fileio import write_atomic, write_json_atomic

from .answer_data import read_pairs
from .answer_eval import validation_metrics

BUCKET = 64  # batches whose pairs are sorted by length together: little padding, still shuffled


def build_model(layers: int, dropout: float = 0.1):
    """The base encoder cut to its first ``layers`` layers, with the two heads."""
    import torch
    from transformers import BertModel

    from rag.config import default_model

    encoder = BertModel.from_pretrained(default_model(), local_files_only=True, attn_implementation="eager",
                                        add_pooling_layer=False)
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    encoder.config.num_hidden_layers = layers

    class AnswerNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.answer = torch.nn.Linear(encoder.config.hidden_size, 1)
            self.span = torch.nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            hidden = self.dropout(hidden)
            start, end = self.span(hidden).unbind(-1)
            return self.answer(hidden[:, 0]).squeeze(-1), start, end

    return AnswerNet()


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


def tensors(tokenizer, pairs, torch, limits: InputLimits = DEFAULT_LIMITS):
    encoded = encode_pairs(tokenizer, [p.question for p in pairs], [p.context for p in pairs],
                           [p.sentence for p in pairs], limits)
    sentence_mask = np.zeros(encoded.input_ids.shape, dtype=bool)
    for k, (first, offsets) in enumerate(zip(encoded.sentence_start, encoded.sentence_offsets)):
        sentence_mask[k, first:first + len(offsets)] = True
    as_t = torch.from_numpy
    return encoded, (as_t(encoded.input_ids), as_t(encoded.attention_mask), as_t(encoded.token_type_ids)), \
        as_t(sentence_mask), as_t(span_labels(encoded, pairs))


def loss_of(model, batch, labels, torch):
    inputs, sentence_mask, spans = batch
    answer, start, end = model(*inputs)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(answer, labels)
    has_span = spans[:, 0] >= 0
    if bool(has_span.any()):
        masked = [logits.masked_fill(~sentence_mask, -1e4)[has_span] for logits in (start, end)]
        ce = torch.nn.functional.cross_entropy
        loss = loss + 0.5 * (ce(masked[0], spans[has_span, 0]) + ce(masked[1], spans[has_span, 1]))
    return loss


def predict(model, tokenizer, pairs, batch_size: int = 64, span_threshold: float = 0.0,
            limits: InputLimits = DEFAULT_LIMITS):
    """Per pair, the model's PairScore (eval mode, no gradients), in the order given."""
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            part = pairs[i:i + batch_size]
            encoded, inputs, _, _ = tensors(tokenizer, part, torch, limits)
            answer, start, end = (t.numpy() for t in model(*inputs))
            scores += decode(answer, start, end, encoded, span_threshold)
    return scores


def _save(path: Path, state: dict, torch) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.train_answer_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with train.jsonl and val.jsonl")
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoint.pt, model.pt, val.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--layers", type=int, default=6, help="keep the encoder's first N layers")
    parser.add_argument("--init", type=Path, help="start from a trained run's model.pt (its first --layers "
                        "layers and its heads) instead of the base encoder: a smaller model from a bigger one")
    parser.add_argument("--skip-batches", type=int, default=0, help="start after the first N batches of the "
                        "seed's plan: with --init from a run of the same --seed and --batch-size that stopped after "
                        "N steps, train on the pairs it never saw")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_LIMITS.max_tokens, help="input length limit")
    parser.add_argument("--max-question-tokens", type=int, default=DEFAULT_LIMITS.max_question)
    parser.add_argument("--max-sentence-tokens", type=int, default=DEFAULT_LIMITS.max_sentence)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--warmup", type=float, default=0.06, help="share of the steps spent warming up")
    parser.add_argument("--max-pairs", type=int, help="train on about N pairs: the pairs of randomly drawn questions")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--steps", type=int, help="steps of the schedule (default: --epochs over the pairs); "
                        "may be changed on --resume to end the decay sooner on a slow machine")
    parser.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this much training time")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--val-pairs", type=int, help="validate on the first N validation pairs only")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer()
    pairs = read_pairs(args.data / "train.jsonl")
    if args.max_pairs is not None:  # whole questions drawn from every article, not the first articles
        qids = sorted({p.qid for p in pairs})
        random.Random(args.seed).shuffle(qids)
        per_question = len(pairs) / max(1, len(qids))
        keep = set(qids[:max(1, round(args.max_pairs / per_question))])
        pairs = [p for p in pairs if p.qid in keep]
    lengths = np.array([len(e.ids) for e in tokenizer.encode_batch(
        [f"{p.question} {p.context} {p.sentence}" for p in pairs], add_special_tokens=False)])
    per_epoch = -(-len(pairs) // args.batch_size)
    if not 0 <= args.skip_batches < per_epoch * args.epochs:
        parser.error(f"--skip-batches must lie in 0..{int(per_epoch * args.epochs) - 1}")
    total = args.steps or max(1, int(per_epoch * args.epochs) - args.skip_batches)
    limits = InputLimits(args.max_tokens, args.max_question_tokens, args.max_sentence_tokens)
    model = build_model(args.layers)
    if args.init is not None and not args.resume:
        start = torch.load(args.init / "model.pt", weights_only=False)["model"]
        kept = {k: v for k, v in start.items() if not k.startswith("encoder.encoder.layer.")
                or int(k.split(".")[3]) < args.layers}
        model.load_state_dict(kept)
    # The word embeddings (half of the weights) stay as trained: updating 30k rows with AdamW every
    # step costs as much as a layer, and a few thousand steps would only move the rows they see.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(args.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    step, trained_s = 0, 0.0
    checkpoint = args.out / "checkpoint.pt"
    if args.resume and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        step, trained_s = state["step"], state["trained_s"]
        print(f"resumed at step {step} of {total} ({trained_s / 60:.1f} min trained)", file=sys.stderr)
    print(f"{len(pairs)} pairs, {total} steps of {args.batch_size} after {args.skip_batches} skipped, "
          f"{args.layers} layers, {limits.max_tokens} tokens, {args.threads} thread(s)", file=sys.stderr)
    labels_all = torch.tensor([float(p.label) for p in pairs])
    model.train()
    started, last_save, window = time.perf_counter(), time.perf_counter(), []
    plan_epoch, plan = -1, []
    while step < total:
        position = args.skip_batches + step
        epoch = position // per_epoch
        if epoch != plan_epoch:
            plan_epoch, plan = epoch, batch_plan(lengths, args.batch_size, args.seed, epoch)
        rows = plan[position % per_epoch]
        _, inputs, mask, spans = tensors(tokenizer, [pairs[i] for i in rows], torch, limits)
        loss = loss_of(model, (inputs, mask, spans), labels_all[torch.from_numpy(rows)], torch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        window.append(loss.item())
        elapsed = trained_s + time.perf_counter() - started
        if step % 50 == 0 or step == total:
            rate = (step * args.batch_size) / max(elapsed, 1e-9)
            print(f"step {step}/{total}  loss {np.mean(window):.4f}  lr {schedule.get_last_lr()[0]:.2e}  "
                  f"{rate:.1f} pairs/s  {elapsed / 60:.1f} min", file=sys.stderr, flush=True)
            window = []
        out_of_time = args.minutes is not None and elapsed >= args.minutes * 60
        if step == total or out_of_time or time.perf_counter() - last_save >= args.checkpoint_minutes * 60:
            _save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "schedule": schedule.state_dict(), "rng": torch.get_rng_state(), "step": step,
                               "trained_s": elapsed}, torch)
            last_save = time.perf_counter()
        if out_of_time and step < total:
            print(f"time is up at step {step} of {total}: checkpoint in {checkpoint}; rerun with --resume",
                  file=sys.stderr)
            return 3
    config = {"layers": args.layers, "seed": args.seed, "pairs": len(pairs), "steps": total,
              "batch_size": args.batch_size, "lr": args.lr, "train_minutes": round(elapsed / 60, 1),
              "limits": limits.__dict__, "init": str(args.init) if args.init else None,
              "skip_batches": args.skip_batches}
    _save(args.out / "model.pt", {"model": model.state_dict(), "config": config}, torch)
    val = read_pairs(args.data / "val.jsonl")[:args.val_pairs]
    t0 = time.perf_counter()
    figures = validation_metrics(val, predict(model, tokenizer, val, limits=limits))
    figures.update(config=config, val_pairs=len(val), val_seconds=round(time.perf_counter() - t0, 1))
    write_json_atomic(args.out / "val.json", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
