"""The evaluation report: a terminal table, report.json, report.md, details.jsonl and report.png."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from rag.fileio import write_atomic, write_json_atomic

# (key, label, kind): kind "pct" prints as a percentage, "ms" and "num" as plain numbers.
RETRIEVAL_ROWS = [("recall@1", "retrieval recall@1", "pct"), ("recall@5", "retrieval recall@5", "pct"),
                  ("recall@10", "retrieval recall@10", "pct"), ("mrr", "MRR", "num"),
                  ("ndcg@10", "nDCG@10", "num")]
ANSWER_ROWS = [("hit@1", "answer hit@1", "pct"), ("hit", "answer hit", "pct"),
               ("cited_gold", "cites the gold bulletin", "pct"), ("span_em", "span exact match", "pct"),
               ("span_f1", "span token F1", "pct"), ("answer_words", "answer length (words)", "num"),
               ("abstention_precision", "abstention precision", "pct"),
               ("abstention_recall", "abstention recall", "pct"),
               ("false_abstention_rate", "false-abstention rate", "pct"),
               ("right", "right: answered with a gold answer first, or refused", "pct"),
               ("citation_validity", "citation validity", "pct")]
LATENCY_ROWS = [("latency_p50_ms", "latency p50 (ms)", "ms"), ("latency_p95_ms", "latency p95 (ms)", "ms")]
PLOTTED = ["recall@1", "recall@5", "mrr", "ndcg@10", "hit@1", "hit", "span_f1", "abstention_recall",
           "false_abstention_rate"]


def write(result: dict, details: list[dict], out: Path) -> None:
    """Write every report file into ``out`` (each atomically)."""
    out = Path(out)
    result = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **result}
    write_json_atomic(out / "report.json", result)
    write_atomic(out / "details.jsonl",
                 "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in details).encode("utf-8"))
    write_atomic(out / "report.md", markdown(result).encode("utf-8"))
    write_atomic(out / "report.png", plot(result))


def rows_for(section: dict) -> list[tuple[str, str, str]]:
    rows = RETRIEVAL_ROWS if section["retrieval_only"] else RETRIEVAL_ROWS[:4] + ANSWER_ROWS
    return rows + LATENCY_ROWS


def fmt(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "ms":
        return f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def suite_table(section: dict) -> list[list[str]]:
    """Rows of [metric, value per mode], the header first."""
    modes = list(section["modes"])
    table = [["metric", *modes]]
    for key, label, kind in rows_for(section):
        table.append([label, *(fmt(section["modes"][m].get(key), kind) for m in modes)])
    return table


def group_table(groups: dict, head: str) -> list[list[str]]:
    """Rows of [group, n, metric...] for a by-kind or by-language breakdown, the header first."""
    keys = [k for k in next(iter(groups.values())) if k != "n"]
    table = [[head, "n", *keys]]
    for group, row in groups.items():
        table.append([group, str(row["n"]),
                      *(fmt(row[k], "num" if k == "mrr" else "ms" if k.endswith("_ms") else "pct") for k in keys)])
    return table


def _aligned(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def terminal_table(result: dict) -> str:
    parts = []
    for name, section in result["suites"].items():
        lines = [f"{name}: {section['questions']} questions, {section['source']}", *_aligned(suite_table(section))]
        for mode, groups in section.get("by_lang", {}).items():
            if groups:
                lines += ["", f"{name}, by language, {mode}:", *_aligned(group_table(groups, "lang"))]
        parts.append("\n".join(lines))
    if result.get("squad_right"):
        parts.append(squad_right_line(result["squad_right"]))
    calibration = result.get("calibration")
    if calibration:
        c = calibration["by_mode"][calibration["mode"]]
        parts.append(f"calibrated abstain_threshold ({calibration['mode']}): {c['threshold']}: abstention "
                     f"F1 {_pct(c['fitted']['f1'])}, accuracy {_pct(c['fitted']['accuracy'])} "
                     f"(leave-one-out: F1 {_pct(c['loo']['f1'])}, accuracy {_pct(c['loo']['accuracy'])}); "
                     f"current {c['current_threshold']}: F1 {_pct(c['current']['f1'])}, "
                     f"accuracy {_pct(c['current']['accuracy'])}")
        for lang, fits in (c["by_lang"] if len(c.get("by_lang", {})) > 1 else {}).items():
            parts.append("; ".join(f"{lang}, {name.replace('_', '-')} ({f['n']} questions): {f['threshold']}, "
                                   f"F1 {_pct(f['fitted']['f1'])}, leave-one-out F1 {_pct(f['loo']['f1'])}"
                                   for name, f in fits.items()))
    return "\n\n".join(parts)


def markdown(result: dict) -> str:
    lines = ["# Evaluation report\n", f"Created {result['created']}; model {result['model']} ({result.get('backend', '?')}), "
             f"top_k {result['top_k']}, abstain_threshold {result['abstain_threshold']}; "
             f"{result['seconds']} s in all.\n"]
    for name, section in result["suites"].items():
        lines.append(f"## {name}\n")
        lines.append(f"{section['questions']} questions from `{section['source']}` over {section['bulletins']} "
                     f"bulletins ({section['chunks']} chunks; index ready in {section['index_seconds']} s).\n")
        lines += _md_table(suite_table(section)) + [""]
        for field, label, head in (("by_kind", "kind of question", "kind"), ("by_lang", "language", "lang")):
            for mode, groups in section.get(field, {}).items():
                if groups:
                    lines.append(f"By {label}, {mode}:\n")
                    lines += _md_table(group_table(groups, head)) + [""]
    if result.get("squad_right"):
        lines.append(squad_right_line(result["squad_right"]) + "\n")
    calibration = result.get("calibration")
    if calibration:
        lines.append("## Abstention threshold calibration\n")
        lines.append("Per question, the best relevance over its candidate sentences; the engine abstains below "
                     "the threshold. The fitted threshold maximises the F1 of abstention (unanswerable questions "
                     "are the positives), the midpoint of the widest gap among equally good ones. Leave-one-out: "
                     "each question judged by the threshold fitted without it.\n")
        table = [["mode", "threshold", "F1", "accuracy", "F1 / accuracy, leave-one-out", "current",
                  "F1 / accuracy at current", "answerable min / median", "unanswerable median / max"]]
        for mode, c in calibration["by_mode"].items():
            a, u = c["answerable_scores"], c["unanswerable_scores"]
            table.append([mode, f"{c['threshold']:.4f}", _pct(c["fitted"]["f1"]), _pct(c["fitted"]["accuracy"]),
                          f"{_pct(c['loo']['f1'])} / {_pct(c['loo']['accuracy'])}", str(c["current_threshold"]),
                          f"{_pct(c['current']['f1'])} / {_pct(c['current']['accuracy'])}",
                          f"{a[0]:.3f} / {a[len(a) // 2]:.3f}" if a else "–",
                          f"{u[len(u) // 2]:.3f} / {u[-1]:.3f}" if u else "–"])
        lines += _md_table(table) + [""]
    lines.append("![metrics by mode and latency](report.png)\n")
    return "\n".join(lines)


def squad_right_line(by_column: dict) -> str:
    return ("right over the SQuAD questions with and without their gold paragraph: "
            + ", ".join(f"{column} {_pct(value)}" for column, value in by_column.items()))


def _pct(value: float) -> str:
    return fmt(value, "pct")


def _md_table(table: list[list[str]]) -> list[str]:
    head, *body = table
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|",
            *("| " + " | ".join(row) + " |" for row in body)]


def plot(result: dict) -> bytes:
    """PNG: per suite, the main metrics by mode and the latency distribution; the calibration curve."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = result["suites"]
    calibration = result.get("calibration")
    rows = len(suites) + (1 if calibration else 0)
    fig, axes = plt.subplots(rows, 2, figsize=(13, 4 * rows), squeeze=False)
    for (name, section), (bars, lat) in zip(suites.items(), axes):
        modes = list(section["modes"])
        keys = [k for k in PLOTTED if any(section["modes"][m].get(k) is not None for m in modes)]
        width = 0.8 / len(modes)
        for i, mode in enumerate(modes):
            values = [section["modes"][mode].get(k) or 0.0 for k in keys]
            bars.bar([x + i * width for x in range(len(keys))], values, width, label=mode)
        bars.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(keys))], keys, rotation=30,
                        ha="right", fontsize=8)
        bars.set_ylim(0, 1)
        bars.set_title(f"{name}: metrics by mode ({section['questions']} questions)")
        bars.legend(fontsize=8)
        lat.boxplot([section["modes"][m]["latencies_ms"] for m in modes], showfliers=True)
        lat.set_xticks(range(1, len(modes) + 1), modes)
        if all(v > 0 for m in modes for v in section["modes"][m]["latencies_ms"]):
            lat.set_yscale("log")
        lat.set_ylabel("ms per question")
        lat.set_title(f"{name}: latency")
    if calibration:
        curve_ax, dist_ax = axes[-1]
        for mode, c in calibration["by_mode"].items():
            thresholds = [t for t, _ in c["curve"]]
            line, = curve_ax.plot(thresholds, [v["f1"] for _, v in c["curve"]], label=f"{mode} F1 (fit {c['threshold']:.3f})")
            curve_ax.plot(thresholds, [v["accuracy"] for _, v in c["curve"]], linestyle="--", color=line.get_color(),
                          label=f"{mode} accuracy")
        curve_ax.axvline(calibration["by_mode"][calibration["mode"]]["current_threshold"], color="grey",
                         linestyle=":", label="current")
        curve_ax.set_xlabel("abstain_threshold")
        curve_ax.set_ylabel("abstention F1 (solid), accuracy (dashed)")
        curve_ax.set_title("calibration: abstention by threshold")
        curve_ax.legend(fontsize=8)
        c = calibration["by_mode"][calibration["mode"]]
        dist_ax.hist([c["answerable_scores"], c["unanswerable_scores"]], bins=20, label=["answerable", "unanswerable"])
        dist_ax.axvline(c["threshold"], color="black", linestyle="--", label="fitted")
        dist_ax.set_xlabel(f"best sentence relevance ({calibration['mode']})")
        dist_ax.set_title("calibration: relevance by label")
        dist_ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
