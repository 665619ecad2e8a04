"""Export a trained answer model (eval/train_answer_model.py's model.pt) to int8 ONNX, the way
rag/encode/onnx_backend.py exports the embedding model: eager attention, ONNX Runtime's BERT fusions,
int8 weights per output channel with block-wise int8 for the feed-forward down-projections.
Then it measures the int8 copy against the fp32 model on the validation pairs.

    python -m eval.export_answer_model --run /tmp/answer-run --data /tmp/answer-data \\
        --out rag/models/answer-minilm.onnx
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from rag.answer.model import AnswerModel, decode
from rag.answer.reading import InputLimits, encode_pairs, load_tokenizer
from rag.encode.cpu import cpu_features
from rag.encode.onnx_backend import quantise_int8, quiet_root_logger
from rag.fileio import write_atomic, write_json_atomic

from .answer_data import read_pairs
from .answer_eval import validation_metrics
from .train_answer_model import build_model, predict


def export(model, path: Path) -> None:
    import torch

    tokenizer = load_tokenizer()
    sample = encode_pairs(tokenizer, ["who won?", "when did it start?"], ["A title", "Title | before"],
                          ["Somebody won the prize.", "It started in 1999 after a long delay."])
    inputs = tuple(torch.from_numpy(a) for a in (sample.input_ids, sample.attention_mask, sample.token_type_ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    dynamic.update({"answer_logit": {0: "batch"}, "start_logits": {0: "batch", 1: "tokens"},
                    "end_logits": {0: "batch", 1: "tokens"}})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), inputs, str(path), input_names=names,
                          output_names=["answer_logit", "start_logits", "end_logits"], dynamic_axes=dynamic,
                          opset_version=17, dynamo=False)


def optimise(path: Path, heads: int, hidden: int) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    with quiet_root_logger():
        optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden).save_model_to_file(str(path))


def stamp(path: Path, metadata: dict[str, str]) -> None:
    """Add ``metadata`` to the graph's (where AnswerModel reads its input limits and calibration),
    replacing the file whole."""
    import onnx

    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {**{p.key: p.value for p in graph.metadata_props}, **metadata})
    write_atomic(path, graph.SerializeToString())


def ms_per_batch(model: AnswerModel, tokenizer, pairs, batch: int = 8) -> float:
    """Median milliseconds of one batch of ``batch`` pairs through ``model`` (after one warm-up batch)."""
    times = []
    for i in range(0, len(pairs), batch):
        part = pairs[i:i + batch]
        t0 = time.perf_counter()
        model.score(part[0].question, [p.context for p in part], [p.sentence for p in part])
        times.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(times[1:] or times)), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.export_answer_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="the training folder (model.pt)")
    parser.add_argument("--data", type=Path, required=True, help="the data folder (val.jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--val-pairs", type=int,
                        help="score the int8 copy on the first N validation pairs (0: write the file only)")
    parser.add_argument("--agreement-pairs", type=int, default=800,
                        help="compare int8 with fp32 on the first N validation pairs (fp32 is slow)")
    args = parser.parse_args(argv)
    if (args.val_pairs is not None and args.val_pairs < 0) or args.agreement_pairs < 0:
        parser.error("--val-pairs and --agreement-pairs count pairs: 0 or more")
    if not (args.run / "model.pt").is_file():
        parser.error(f"--run {args.run}: no model.pt there (a folder eval.train_answer_model wrote)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    state = torch.load(args.run / "model.pt", weights_only=False)
    model = build_model(state["config"]["layers"])
    limits = InputLimits(**state["config"].get("limits", {}))
    model.load_state_dict(state["model"])
    model.eval()
    with tempfile.TemporaryDirectory(prefix=".export-", dir=args.out.parent) as tmp:
        plain, reduced = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        export(model, plain)
        config = model.encoder.config
        optimise(plain, config.num_attention_heads, config.hidden_size)
        stamp(plain, limits.metadata())
        quantise_int8(plain, reduced)  # keeps the graph's metadata
        write_atomic(args.out, reduced.read_bytes())
        val = read_pairs(args.data / "val.jsonl")[:args.val_pairs]
        tokenizer = load_tokenizer()
        # The fp32 graph is the baseline the int8 one must beat on this CPU, timed in the same run.
        speed = {name: ms_per_batch(AnswerModel(path, threads=1), tokenizer, val[:256])
                 for name, path in (("fp32", plain), ("int8", reduced))} if val else {}
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    if not val:  # a file written to be measured elsewhere (e.g. a weight average, in the engine)
        figures = {"bytes": args.out.stat().st_size, "train": state["config"]}
        write_json_atomic(args.run / "export.json", figures)
        print(json.dumps(figures, indent=2))
        return 0
    fp32 = predict(model, tokenizer, val[:args.agreement_pairs], limits=limits)
    onnx_model = AnswerModel(args.out, threads=1, span_threshold=0.0)
    t0 = time.perf_counter()
    int8 = []
    for i in range(0, len(val), 8):  # batches of 8: the engine's default candidate count
        part = val[i:i + 8]
        encoded = encode_pairs(tokenizer, [p.question for p in part], [p.context for p in part],
                               [p.sentence for p in part], limits)
        feed = {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask,
                "token_type_ids": encoded.token_type_ids}
        answer, start, end = onnx_model._session.run(["answer_logit", "start_logits", "end_logits"], feed)
        int8 += decode(answer, start, end, encoded, 0.0)
    ms_per_8 = (time.perf_counter() - t0) * 1000 / max(1, -(-len(val) // 8))
    p32, p8 = np.array([s.probability for s in fp32]), np.array([s.probability for s in int8[:len(fp32)]])
    agreement = {
        "probability_max_abs_diff": float(np.abs(p32 - p8).max()),
        "probability_correlation": float(np.corrcoef(p32, p8)[0, 1]),
        "same_span": float(np.mean([a.span == b.span for a, b in zip(fp32, int8)])),
    } if len(fp32) > 1 else {}
    figures = {
        "int8": validation_metrics(val, int8), "agreement_pairs": len(fp32), **agreement,
        "int8_ms_per_8_pairs_1_thread": round(ms_per_8, 1),
        "ms_per_8_pairs_1_thread_first_256": speed, "cpu_features": cpu_features(),
        "bytes": args.out.stat().st_size, "train": state["config"],
    }
    write_json_atomic(args.run / "export.json", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
