"""The answer model's settings fitted and replayed offline, from the rows eval/answer_sweep.py saves
(each question's best candidates with the heuristic's scores and the model's probability and span):
the candidate chosen at a blend, hit@1 and span F1 at each N, a learned refusal and the threshold
the engine stores, a learned ranking, and the model's probability by word coverage. Numpy and the
rows only: nothing here loads a model or an index."""

from __future__ import annotations

import json
from dataclasses import replace

from rag.answer.calibration import Calibration, confidence_features, logit

from . import metrics
from .answer_eval import auc, threshold_for_false_refusals

KINDS = ("answerable", "removed", "swapped", "antonym")


def kind_of(row: dict) -> str:
    """A row's kind; rows saved before swapped questions existed say only ``no_gold``."""
    return row.get("kind") or ("removed" if row["no_gold"] else "answerable")


def replay(rows: list[dict], n: int, blend: float, span_threshold: float) -> dict:
    """hit@1, span F1, and per question the best probability (for refusal), at one setting."""
    hit1, f1, best_p = [], [], []
    for r in rows:
        cands = r["candidates"][:n]
        if not cands:
            best_p.append(0.0)
            hit1.append(False)
            f1.append(0.0)
            continue
        best = chosen(cands, blend)
        best_p.append(best["p"])  # the engine refuses on the chosen sentence's probability
        hit1.append(best["hit"])
        span = best["span"] if best["span_conf"] >= span_threshold else None
        f1.append(metrics.token_f1(span, r["answers"]) if r["answers"] else 0.0)
    return {"hit1": hit1, "f1": f1, "best_p": best_p}


# The refusal's features (rag/answer/calibration.py, REFUSAL_FEATURES), as shipped since 2026-12-02: the
# best answer logit and the chosen sentence's cosine and rare-word coverage, in place of the
# relevance that sums them with the passage's rank. Fitted against the removed, swapped and antonym
# questions together, the cosine carries the weight that the word coverage carried: a sentence of
# the question's topic says its words whether or not it answers (MODEL_CARD.md, "A refusal that
# weighs meaning").
ABSTENTION_FEATURES = ("best_logit", "dense", "lexical")
REFUSE_KINDS = ("removed", "swapped", "antonym")


def abstention_features(cands: list[dict], n: int, blend: float,
                        features: tuple[str, ...] = ABSTENTION_FEATURES) -> list[float]:
    """What the refusal weighs for one question (rag/answer/verdict.py, ModelVerdict.confidence):
    ``features`` of the N candidates' probabilities and of the chosen sentence."""
    cands = cands[:n]
    if not cands:
        return [-14.0 if f == "best_logit" else 0.0 for f in features]
    return list(confidence_features([c["p"] for c in cands], chosen(cands, blend), features))


def chosen(cands: list[dict], blend: float) -> dict:
    """The candidate the engine answers with: the best model logit plus ``blend`` times the heuristic score."""
    return max(cands, key=lambda c: logit(c["p"]) + blend * c["score"])


def fit_logistic(x, y, l2: float = 1e-2, steps: int = 50):
    """Weights and bias of an L2-regularised logistic regression (Newton's method; a few features)."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.diag(np.r_[np.ones(len(w) - 1), 0])
        w -= np.linalg.solve(hess, grad)
    weights = w[:-1] / scale
    return weights.tolist(), float(w[-1] - (weights * mean).sum())


def abstention_report(fit_rows: list[dict], test_rows: list[dict], n: int, blend: float,
                      kinds: tuple[str, ...] = REFUSE_KINDS, report_kinds: tuple[str, ...] = KINDS[1:],
                      feature_names: tuple[str, ...] = ABSTENTION_FEATURES, stored_rate: float = 0.10) -> dict:
    """The refusal score over ``feature_names`` learned on ``fit_rows`` (answerable against the
    unanswerable ``kinds``) and, on both sets, its AUC and refusals at 10% false refusals next to the
    best answer logit alone (over ``kinds``), with the refusals of each of ``report_kinds`` at that
    threshold. The calibration it returns refuses ``stored_rate`` of the fit rows' answerable
    questions: a new model can be put at the operating point the shipped one has, so that a
    comparison measures the model and not a different trade between the two kinds of error."""
    import numpy as np

    fitted_kinds = ("answerable", *kinds)

    def features(rows):
        return np.asarray([abstention_features(r["candidates"], n, blend, ("best_logit", *feature_names))
                           for r in rows], dtype=np.float64)

    fit = [r for r in fit_rows if kind_of(r) in fitted_kinds]
    weights, bias = fit_logistic(features(fit)[:, 1:], [0 if r["no_gold"] else 1 for r in fit])
    out = {"n": n, "blend": blend, "features": feature_names, "weights": [round(w, 5) for w in weights],
           "bias": round(bias, 5)}
    for name, rows in (("fit", fit_rows), ("test", test_rows)):
        x, row_kinds = features(rows), [kind_of(r) for r in rows]
        for label, score in (("probability", x[:, 0]), ("learned", x[:, 1:] @ np.asarray(weights) + bias)):
            answerable = [s for s, k in zip(score, row_kinds) if k == "answerable"]
            unanswerable = [s for s, k in zip(score, row_kinds) if k in kinds]
            t = threshold_for_false_refusals(answerable, 0.10)
            out[f"{name} {label}"] = {"auc": round(auc(answerable, unanswerable) or 0.0, 4),
                                      "refused_at_10pct": round(_mean([s < t for s in unanswerable]), 4),
                                      "threshold": round(float(t), 4)}
            for kind in report_kinds:
                refused = [s < t for s, k in zip(score, row_kinds) if k == kind]
                if refused:
                    out[f"{name} {label}"][f"refused_{kind}_at_10pct"] = round(_mean(refused), 4)
    calibration = Calibration(float(blend), tuple(round(w, 5) for w in weights), round(bias, 5),
                              features=tuple(feature_names))
    engine_scores = [calibration.confidence([c["p"] for c in r["candidates"][:n]], chosen(r["candidates"][:n], blend))
                     for r in fit if kind_of(r) == "answerable" and r["candidates"]]
    out["calibration"] = replace(calibration, threshold=engine_threshold(engine_scores, stored_rate)).metadata()
    return out


def engine_threshold(confidences: list[float], rate: float) -> float:
    """The threshold the engine stores: halfway between the highest confidence it refuses and the
    lowest it keeps, computed from the confidences as the engine computes them (rounded weights),
    and written with enough digits to stay inside that gap.

    Why: the threshold at a question's own score, rounded to 4 digits, can land just above it and
    refuse one question more than the fit allows (version 8's refit: 0.480568 -> 0.4806, 10.2%
    instead of 10.0% false refusals on the held-out articles)."""
    ordered = sorted(confidences)
    k = int(rate * len(ordered))
    if not ordered:
        return 0.0
    if k == 0:
        return ordered[0]
    if k >= len(ordered):
        return ordered[-1]
    low, high = ordered[k - 1], ordered[k]
    middle = (low + high) / 2
    for digits in range(4, 17):
        threshold = round(middle, digits)
        if low < threshold <= high:
            return threshold
    return high


def threshold_curve(fit_rows: list[dict], test_rows: list[dict], calibration: Calibration, n: int,
                    shares: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.10),
                    thresholds: tuple[float, ...] = ()) -> list[dict]:
    """A stored refusal (``calibration``: its weights and blend, the threshold moved) at thresholds
    that refuse each of ``shares`` of ``fit_rows``' answerable questions, and at ``thresholds``
    themselves (the stored one, say), with on both sets the
    answerable questions refused, answered with a gold answer in the chosen candidate (hit@1) or
    in any of the N read (hit), and each unanswerable kind refused: how far the threshold trades
    one of the issue's targets for another (the engine's hit also counts support sentences)."""
    def scored(rows):
        out = []
        for r in rows:
            cands = r["candidates"][:n]
            best = chosen(cands, calibration.heuristic_weight) if cands else None
            confidence = calibration.confidence([c["p"] for c in cands], best) if cands else 0.0
            out.append((kind_of(r), confidence, bool(best and best["hit"]), any(c["hit"] for c in cands)))
        return out

    fit, test = scored(fit_rows), scored(test_rows)
    answerable = [c for k, c, *_ in fit if k == "answerable"]
    curve = []
    points = [(engine_threshold(answerable, share), share) for share in shares]
    points += [(t, _mean([c < t for c in answerable])) for t in thresholds]
    for threshold, share in points:
        point = {"fit_false_refusals": round(share, 4), "threshold": round(threshold, 4)}
        for name, rows in (("fit", fit), ("test", test)):
            asked = [(c, h1, h) for k, c, h1, h in rows if k == "answerable"]
            point[name] = {"false_refusals": round(_mean([c < threshold for c, _, _ in asked]), 4),
                           "hit@1": round(_mean([c >= threshold and h1 for c, h1, _ in asked]), 4),
                           "hit": round(_mean([c >= threshold and h for c, _, h in asked]), 4)}
            for kind in KINDS[1:]:
                refused = [c < threshold for k, c, *_ in rows if k == kind]
                if refused:
                    point[name][f"refused_{kind}"] = round(_mean(refused), 4)
        curve.append(point)
    return curve


BLEND = Calibration().heuristic_weight  # the fixed blend a learned ranker must beat
RANKING_FEATURES = ("model logit", "heuristic score", "dense", "lexical", "passage")


def ranking_features(c: dict) -> list[float]:
    return [logit(c["p"]), c["score"], c.get("dense", 0.0), c.get("lexical", 0.0), c.get("passage", 0.0)]


def ranking_report(fit_rows: list[dict], test_rows: list[dict], n: int) -> dict:
    """A pointwise logistic ranker over each candidate's features (does it hold the answer?),
    learned on ``fit_rows``' answerable questions; hit@1 and span F1 on both sets, next to the
    model logit alone and the best fixed blend with the heuristic score."""
    import numpy as np

    fit = [r for r in fit_rows if not r["no_gold"]]
    x = [ranking_features(c) for r in fit for c in r["candidates"][:n]]
    y = [int(c["hit"]) for r in fit for c in r["candidates"][:n]]
    weights, bias = fit_logistic(x, y)
    out = {"n": n, "features": RANKING_FEATURES, "weights": [round(w, 5) for w in weights], "bias": round(bias, 5)}
    for name, rows in (("fit", fit), ("test", [r for r in test_rows if not r["no_gold"]])):
        for label, key in (("model", lambda c: logit(c["p"])),
                           (f"blend {BLEND:g}", lambda c: logit(c["p"]) + BLEND * c["score"]),
                           ("learned", lambda c: float(np.dot(weights, ranking_features(c))))):
            hits, f1s = [], []
            for r in rows:
                cands = r["candidates"][:n]
                if not cands:
                    hits.append(False)
                    f1s.append(0.0)
                    continue
                best = max(cands, key=key)
                hits.append(best["hit"])
                f1s.append(metrics.token_f1(best["span"], r["answers"]) if best["span_conf"] >= 0.1 else 0.0)
            out[f"{name} {label}"] = {"hit@1": round(_mean(hits), 4), "span_f1": round(_mean(f1s), 4)}
    return out


COVERAGE_BUCKETS = (0.25, 0.5, 0.75)  # quarters of the question's rare words that the sentence says


def coverage_report(rows: list[dict]) -> dict:
    """How the model's probability for the answer sentence falls with the share of the question's
    rare words it says (the heuristic's ``lexical`` coverage): per quarter, how many answerable
    questions have a candidate holding a gold answer, and the median probability of the first such
    candidate. SQuAD questions mostly reuse their sentence's words; paraphrased ones do not, and
    where the model learned that shared words mean an answer, it doubts them (MODEL_CARD.md)."""
    import numpy as np

    edges = (0.0, *COVERAGE_BUCKETS)
    buckets: dict[int, list[float]] = {k: [] for k in range(len(edges))}
    for r in rows:
        if kind_of(r) != "answerable":
            continue
        gold = next((c for c in r["candidates"] if c["hit"]), None)
        if gold is not None:
            buckets[sum(gold["lexical"] >= e for e in COVERAGE_BUCKETS)].append(gold["p"])
    out = {}
    for k, probabilities in buckets.items():
        upper = f"{COVERAGE_BUCKETS[k]:g}" if k < len(COVERAGE_BUCKETS) else "1"
        out[f"coverage {edges[k]:g}-{upper}"] = {
            "questions": len(probabilities),
            "median_probability": round(float(np.median(probabilities)), 3) if probabilities else None}
    return out


def report(rows: list[dict]) -> int:
    """One JSON line per setting: hit@1, span F1, and refusal with the gold paragraph removed."""
    answerable = [r for r in rows if kind_of(r) == "answerable"]
    no_gold = [r for r in rows if kind_of(r) == "removed"]
    perturbed = {kind: [r for r in rows if kind_of(r) == kind] for kind in KINDS[2:]}
    scored = max(len(r["candidates"]) for r in rows)
    for n in (2, 4, 8, 16):
        if n > scored:
            continue
        for blend in (0.0, 2.0, 8.0, 16.0, 32.0, 64.0):
            a, u = (replay(rows, n, blend, 0.1) for rows in (answerable, no_gold))
            others = {kind: replay(kind_rows, n, blend, 0.1) for kind, kind_rows in perturbed.items() if kind_rows}
            line = {"n": n, "blend": blend, "hit@1": _mean(a["hit1"]), "span_f1": _mean(a["f1"]),
                    "auc_refusal": auc(a["best_p"], u["best_p"])}
            for rate in (0.05, 0.10):
                t = threshold_for_false_refusals(a["best_p"], rate)
                line[f"refused_no_gold_at_{int(rate * 100)}pct"] = _mean([p < t for p in u["best_p"]])
                for kind, w in others.items():
                    line[f"refused_{kind}_at_{int(rate * 100)}pct"] = _mean([p < t for p in w["best_p"]])
                line[f"threshold_{int(rate * 100)}pct"] = round(t, 4)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in line.items()}))
    return 0


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
