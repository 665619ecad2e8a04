"""Average two answer-model checkpoints weight by weight, into a run folder that
``eval.export_answer_model`` and ``--init`` read.

Why: two versions trained on from the same ancestor lie close enough in weight space that their
mean is itself a working model (weight averaging as in WiSE-FT and "model soups"), often keeping
part of what each learned; the project has measured such means against each version
(rag/models/MODEL_CARD.md). Only checkpoints of one architecture and one input recipe can be
averaged; anything else is refused with a message.

    python -m eval.average_answer_models --a RUN_A --b RUN_B --weight 0.5 --out RUN_MEAN
    python -m eval.export_answer_model --run RUN_MEAN --data DATA --out mean.onnx --val-pairs 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def averaged(a: dict, b: dict, weight: float) -> dict:
    """``weight`` times state ``a`` plus the rest times ``b``; integer buffers are taken from ``a``."""
    if set(a) != set(b):
        different = sorted(set(a) ^ set(b))
        raise ValueError(f"the two hold different weights ({', '.join(different[:3])}"
                         f"{' and more' if len(different) > 3 else ''})")
    for name, tensor in a.items():
        if tensor.shape != b[name].shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)} in one and {tuple(b[name].shape)} in the other")
    return {name: weight * tensor + (1 - weight) * b[name] if tensor.is_floating_point() else tensor
            for name, tensor in a.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.average_answer_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="a run folder holding model.pt")
    parser.add_argument("--b", type=Path, required=True, help="the other run folder")
    parser.add_argument("--weight", type=float, default=0.5, help="the share of --a (0 to 1; default 0.5)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write model.pt into")
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error(f"--weight {args.weight}: a share between 0 and 1")
    for folder in (args.a, args.b):
        if not (folder / "model.pt").is_file():
            parser.error(f"{folder}: no model.pt there (a folder eval.train_answer_model or "
                         "eval.recover_answer_model wrote)")
    import torch

    from eval.train_answer_model import _save

    a, b = (torch.load(folder / "model.pt", weights_only=False) for folder in (args.a, args.b))
    config_a, config_b = a.get("config", {}), b.get("config", {})
    for key in ("layers", "limits"):
        if config_a.get(key) != config_b.get(key):
            print(f"error: the two differ in {key}: {config_a.get(key)} against {config_b.get(key)}", file=sys.stderr)
            return 2
    try:
        state = averaged(a["model"], b["model"], args.weight)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = {**config_a, "averaged": {"a": str(args.a), "b": str(args.b), "weight": args.weight}}
    args.out.mkdir(parents=True, exist_ok=True)
    _save(args.out / "model.pt", {"model": state, "config": config}, torch)
    print(f"{args.weight:g} x {args.a} + {1 - args.weight:g} x {args.b} written to {args.out / 'model.pt'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
