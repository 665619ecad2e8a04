"""PDF indexing benchmark: generate PDFs and time `rag index` on them, in pages per second.

    .venv/bin/python -m bench.pdfs                      # 200 PDFs of 3 pages in a temporary folder
    .venv/bin/python -m bench.pdfs --count 20 --pages 2 --workdir /tmp/pdfs

The PDFs (fpdf2, a test dependency) hold the seed digest's paragraphs, shuffled per file with
``random.Random(n)`` under a headline of their own, one page after another, so every file and
chunk is new to the index. Three timings: extraction alone (pypdf, in this process, into a
fresh folder), `rag index` as a user runs it (a new process: model load, extraction, split,
embed, save; after a warm-up run on one other PDF has done the index folder's one-off ONNX
export), and `rag index` again on the unchanged folder (extracted text read back, every vector
reused). On a shared machine wall seconds are noisy: ``index_pages_per_cpu_s`` (pages per
CPU-second of the `rag index` process) is steadier, and ``load_average`` says how busy it was.
Prints JSON, then a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.output import check_out, emit
from rag.config import PROJECT_ROOT, available_cores
from rag.ingest.bulletins import body_range, split_bulletins
from rag.ingest.files import read_corpus

SEED = PROJECT_ROOT / "seeds" / "china-carbon-neutrality-2023-03.txt"


def seed_paragraphs() -> tuple[list[str], list[str]]:
    """Headlines and body paragraphs of the seed digest, in Latin-1 (the PDF core fonts' range)."""
    text = SEED.read_bytes().decode("utf-8")
    titles, paragraphs = [], []
    for b in split_bulletins(text, "seed"):
        titles.append(_latin1(b.title))
        start, end = body_range(text, b)
        paragraphs += [_latin1(" ".join(p.split())) for p in text[start:end].split("\n\n") if p.strip()]
    return titles, paragraphs


def write_pdfs(folder: Path, count: int, pages: int, first: int = 0) -> int:
    """``count`` PDFs of ``pages`` pages each in ``folder``, numbered from ``first``; their total size in bytes."""
    from fpdf import FPDF

    titles, paragraphs = seed_paragraphs()
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    for n in range(first, first + count):
        rng = random.Random(n)
        pdf = FPDF()
        pdf.set_auto_page_break(False)
        pdf.set_font("Helvetica", size=10)
        for page in range(pages):
            pdf.add_page()
            # Lines placed one by one (text wrapped here): fpdf2's own line breaking took a second a file.
            blocks = [[f"Bulletin {n + 1}: {rng.choice(titles)}"]] if page == 0 else []
            blocks += [textwrap.wrap(p, 100) for p in rng.sample(paragraphs, len(paragraphs))]
            y = 20.0
            for lines in blocks:
                if y + 5 * len(lines) > 282:
                    break
                for line in lines:
                    pdf.text(10, y, line)
                    y += 5
                y += 3
        path = folder / f"bulletin-{n + 1:04d}.pdf"
        path.write_bytes(bytes(pdf.output()))
        size += path.stat().st_size
    return size


def rag_index(seeds: Path, index: Path) -> tuple[float, float, dict]:
    """Run `rag index` in a new process; its wall seconds, its CPU seconds and the index manifest."""
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--seeds", str(seeds), "--index", str(index)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"rag index failed: {done.stderr.strip()}")
    generation = (index / "CURRENT").read_text().strip()
    return seconds, cpu, json.loads((index / generation / "manifest.json").read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="PDFs to generate (default 200)")
    parser.add_argument("--pages", type=int, default=3, help="pages per PDF (default 3)")
    parser.add_argument("--workdir", type=Path,
                        help="where to write the PDFs and the index (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    check_out(parser, args.out)
    with tempfile.TemporaryDirectory(prefix="bench-pdfs-") as scratch:
        work = args.workdir or Path(scratch)
        seeds, index = work / "pdfs", work / "index"
        started = time.perf_counter()
        size = write_pdfs(seeds, args.count, args.pages)
        generate_s = time.perf_counter() - started

        started = time.perf_counter()
        files = read_corpus(seeds, PROJECT_ROOT, extracted=work / "extract-only")
        extract_s = time.perf_counter() - started
        pages = sum(len(f.pages) for f in files)

        # A fresh index folder first exports the model to ONNX (once per folder): done on one
        # other PDF here, so the timed build is what indexing the PDFs costs.
        write_pdfs(work / "warm-up", 1, 1, first=args.count)
        warm_up_s, _, _ = rag_index(work / "warm-up", index)
        build_s, build_cpu_s, manifest = rag_index(seeds, index)
        again_s, _, _ = rag_index(seeds, index)
    report = {"pdfs": len(files), "pages": pages, "megabytes": round(size / 1e6, 2),
              "characters": sum(len(f.text) for f in files), "bulletins": manifest["bulletins"],
              "chunks": manifest["chunks"], "sentences": manifest["sentences"], "backend": manifest["backend"],
              "cores": available_cores(), "generate_s": round(generate_s, 2),
              "extract_s": round(extract_s, 2), "extract_pages_per_s": round(pages / extract_s, 1),
              "warm_up_s": round(warm_up_s, 2), "index_s": round(build_s, 2),
              "index_pages_per_s": round(pages / build_s, 2), "index_cpu_s": round(build_cpu_s, 1),
              "index_pages_per_cpu_s": round(pages / build_cpu_s, 2), "load_average": os.getloadavg()[0],
              "reindex_unchanged_s": round(again_s, 2)}
    emit(report, args.out, f"rag index: {pages} pages in {len(files)} PDFs, {build_s:.1f} s, "
                           f"{pages / build_s:.1f} pages/s (extraction alone {pages / extract_s:.0f} pages/s; "
                           f"unchanged re-index {again_s:.1f} s)")
    return 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _latin1(text: str) -> str:
    return text.replace("\xa0", " ").encode("latin-1", "replace").decode("latin-1")


if __name__ == "__main__":
    sys.exit(main())
