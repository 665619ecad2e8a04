"""Two answer models compared from their sweep rows, as the project decides whether a new version
ships: each model's refusal refitted the shipped way on its own held-out rows, "right" replayed on
every set, and the paired difference given with a bootstrap interval.

Why: "right" moves by a few tenths of a point between versions, which on 500 questions is one or
two answers; the interval says whether a difference is more than the draw of questions. It does not
say whether it is more than the draw of a training run: versions 17 and 19, one recipe run twice,
differ by -1.5 [-2.5, -0.5] points on SQuAD-13 (rag/models/MODEL_CARD.md, "Version 19"), so a
recipe is judged on two runs or more. Numpy and the rows only (``eval.answer_sweep --out`` and
``--own --out``), nothing loaded.

    python -m eval.compare_answer_models --a v8-val.json v8-squad.json v8-own.json \\
        --b v17-val.json v17-squad.json v17-own.json --names held-out,SQuAD-13,own

The first file of each list is the set the refusal is fitted on (answerable against removed,
swapped and antonym questions, 10% false refusals, as ``--fit-abstention``); the lists pair up
file by file, and rows pair by question id and kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.answer.calibration import Calibration

from .answer_fits import abstention_report, chosen, kind_of

# What "right" counts besides the answerable questions answered with the gold in the first sentence:
# refusals of the questions nothing in the corpus answers (the README's "right"), or of the ones whose
# paragraph is there but says something else (the kind SQuAD 2.0's writers made).
VIEWS = {"right": ("removed", "unanswerable"), "right_paragraph_kept": ("swapped", "antonym")}


def fitted_calibration(fit_rows: list[dict], n: int, blend: float) -> Calibration:
    """The refusal ``--fit-abstention n,blend --write-calibration`` would store for these rows."""
    report = abstention_report(fit_rows, fit_rows, n, blend)
    return Calibration.from_metadata(report["calibration"])


def outcomes(rows: list[dict], calibration: Calibration, n: int) -> dict[tuple[str, str], tuple[str, bool]]:
    """Per (question id, kind): whether the engine's answer would be right, replayed from the rows."""
    out = {}
    for r in rows:
        kind, cands = kind_of(r), r["candidates"][:n]
        best = chosen(cands, calibration.heuristic_weight) if cands else None
        answered = best is not None and \
            calibration.confidence([c["p"] for c in cands], best) >= calibration.threshold
        out[(r["id"], kind)] = (kind, bool(answered and best["hit"]) if kind == "answerable" else not answered)
    return out


def paired_difference(a: dict, b: dict, kinds: tuple[str, ...], resamples: int = 2000, seed: int = 0) -> dict | None:
    """Mean "right" of ``a`` and ``b`` over the answerable questions and ``kinds``, their difference
    (b minus a, in points) and its 95% bootstrap interval; None when no question of ``kinds`` is there."""
    import numpy as np

    keys = [k for k, (kind, _) in a.items() if k in b and kind in ("answerable", *kinds)]
    if not any(a[k][0] != "answerable" for k in keys):
        return None
    first, second = (np.array([float(side[k][1]) for k in keys]) for side in (a, b))
    diff = second - first
    draws = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"questions": len(keys), "a": round(100 * first.mean(), 1), "b": round(100 * second.mean(), 1),
            "difference": round(100 * diff.mean(), 1), "interval_95": [round(100 * low, 1), round(100 * high, 1)]}


def compare(a_sets: list[list[dict]], b_sets: list[list[dict]], names: list[str], n: int, blend: float,
            resamples: int = 2000) -> dict:
    calibrations = [fitted_calibration(sets[0], n, blend) for sets in (a_sets, b_sets)]
    out: dict = {"n": n, "blend": blend, "calibration": {"a": calibrations[0].metadata(), "b": calibrations[1].metadata()}}
    for name, a_rows, b_rows in zip(names, a_sets, b_sets):
        a, b = outcomes(a_rows, calibrations[0], n), outcomes(b_rows, calibrations[1], n)
        out[name] = {view: found for view, kinds in VIEWS.items()
                     if (found := paired_difference(a, b, kinds, resamples)) is not None}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.compare_answer_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, nargs="+", required=True, help="model A's sweep rows: the fit set first")
    parser.add_argument("--b", type=Path, nargs="+", required=True, help="model B's rows of the same sets, in order")
    parser.add_argument("--names", help="a comma-separated name per set (default: the file names of --a)")
    parser.add_argument("--n", type=int, default=2, help="candidates the model reads (default 2, the engine's)")
    parser.add_argument("--blend", type=float, default=8.0, help="the heuristic's weight in the choice (default 8)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    args = parser.parse_args(argv)
    if len(args.a) != len(args.b):
        parser.error(f"--a has {len(args.a)} files and --b {len(args.b)}: give the same sets for both")
    names = args.names.split(",") if args.names else [path.stem for path in args.a]
    if len(names) != len(args.a):
        parser.error(f"--names gives {len(names)} names for {len(args.a)} sets")
    if args.n < 1 or args.resamples < 1:
        parser.error("--n and --resamples are counts: 1 or more")
    sets = []
    for paths in (args.a, args.b):
        loaded = []
        for path in paths:
            try:
                rows = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(rows, list) or any("candidates" not in r or "id" not in r for r in rows):
                    raise ValueError("not a list of rows with ids and candidates")
            except (OSError, ValueError) as error:
                print(f"error: {path}: not sweep rows ({error})", file=sys.stderr)
                return 2
            loaded.append(rows)
        sets.append(loaded)
    print(json.dumps(compare(sets[0], sets[1], names, args.n, args.blend, args.resamples), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
