"""The ``rag`` command: one entry point, subcommands, plain output for people and ``--json`` for scripts."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rag.config import ANSWERERS, MODES, Settings
from rag.errors import QueryError, RagError, StaleRecordsError
from rag.progress import ProgressBar

log = logging.getLogger("rag")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except RagError as exc:
        print(f"rag: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


def _message(exc: RagError) -> str:
    """The error's one line, with the command that puts it right where there is one."""
    if isinstance(exc, StaleRecordsError):
        return f"{exc}: rebuild the index with `rag index --rebuild`"
    return str(exc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cited extractive answers over news bulletins.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seeds", type=Path, help="folder of bulletin files (env RAG_SEEDS, default seeds/)")
        p.add_argument("--index", type=Path, help="index folder (env RAG_INDEX, default index/)")
        p.add_argument("--model", help="embedding model: all-MiniLM-L6-v2 (default), or multilingual-e5-small "
                       "for questions in Chinese and other languages (env RAG_MODEL)")
        p.add_argument("-v", "--verbose", action="store_true", help="log what happens")

    p = sub.add_parser("index", help="build the index from the seeds folder")
    common(p)
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild even if the index is up to date, embedding every text again")
    p.add_argument("--reuse", action="store_true",
                   help="with --rebuild: reuse the vectors and splits of the current index if it passes its checks")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="split and embed on a Ray cluster (needs the ray extra): ADDRESS, 'auto' for the one "
                        "running here, or none to start a local one (env RAG_RAY_ADDRESS)")
    p.set_defaults(run=_index)

    p = sub.add_parser("ask", help="answer a question with cited sentences from the bulletins")
    common(p)
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the response object as JSON")
    p.add_argument("--mode", choices=MODES, help="retrieval mode (default hybrid)")
    p.add_argument("--top-k", type=int, help="passages to retrieve (default 5)")
    p.add_argument("--explain", action="store_true", help="show each candidate sentence's score")
    p.add_argument("--answerer", choices=ANSWERERS, help="model (the default) or heuristic (env RAG_ANSWERER)")
    p.set_defaults(run=_ask)

    p = sub.add_parser("serve", help="run the HTTP API and the chat widget")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="serve replicas through Ray Serve (needs the ray extra): ADDRESS, 'auto', or none to start "
                        "a local cluster (env RAG_RAY_ADDRESS)")
    p.add_argument("--replicas", type=int, default=2, help="with --ray: replicas of the app (default 2)")
    p.set_defaults(run=_serve)

    p = sub.add_parser("eval", help="evaluate answers and retrieval on a question set")
    common(p)
    p.add_argument("--questions", type=Path, action="append",
                   help="question set (default eval/questions.jsonl); repeat it to ask several sets in one "
                        "run, e.g. the English and the Chinese one (reported by language)")
    p.add_argument("--squad", type=Path, help="a SQuAD v1.1/v2.0 JSON file to evaluate on")
    p.add_argument("--beir", type=Path, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
    p.add_argument("--mode", choices=(*MODES, "all"), default="hybrid")
    p.add_argument("--out", type=Path, default=Path("eval/out"), help="where to write the report")
    p.add_argument("--limit", type=int, help="evaluate at most this many questions")
    p.add_argument("--sample", type=int, help="draw this many questions with random.Random(0) (default all)")
    p.add_argument("--calibrate", action="store_true", help="also fit the abstention threshold")
    p.add_argument("--resume", action="store_true",
                   help="go on from OUT/progress.jsonl, where a stopped run with the same options wrote the "
                        "questions it had scored")
    p.add_argument("--answerer", help="heuristic, model, or both side by side: heuristic,model")
    p.add_argument("--squad-remove-gold", action="store_true",
                   help="also ask the SQuAD questions without their gold paragraph (they should be refused)")
    p.add_argument("--squad-swapped", action="store_true",
                   help="also ask the SQuAD questions with an entity their answer sentence says swapped for "
                        "another of the article, the gold paragraph kept (they should be refused)")
    p.add_argument("--squad-antonym", action="store_true",
                   help="also ask the SQuAD questions with a word their answer sentence says turned into its "
                        "opposite (\"largest\" -> \"smallest\"), the gold paragraph kept (they should be refused)")
    p.set_defaults(run=_eval)
    return parser


def _settings(args) -> Settings:
    answerer = getattr(args, "answerer", None)
    return Settings.from_env(seeds=args.seeds, index=args.index, model=getattr(args, "model", None),
                             answerer=answerer if answerer in ANSWERERS else None)


def _open(settings: Settings, rebuild: bool = False, reuse: bool = False, ray: str | None = None):
    """The engine for ``settings``, built when needed (on a Ray cluster with ``ray``, an address or "")."""
    from rag.index.plan import Append, describe
    from rag.service.lifecycle import open_engine

    bar = ProgressBar(prefix="")
    if ray is not None:
        from rag import cluster
        from rag.cluster.build import open_on_ray

        cluster.connect(cluster.address_for(settings, ray))
        engine, report = open_on_ray(settings, rebuild=rebuild, reuse=reuse, progress=bar)
    else:
        engine, report = open_engine(settings, rebuild=rebuild, reuse=reuse, progress=bar)
    bar.close()
    if report.rebuilt:
        m = engine.index.manifest
        verb = "appended to" if isinstance(report.plan, Append) else "built"
        print(f"rag: {verb} the index in {settings.index} ({describe(report.plan)}): {m.bulletins} bulletins, "
              f"{m.chunks} chunks, {m.embedded} chunks embedded, {report.seconds:.1f} s", file=sys.stderr)
    return engine


def _index(args) -> int:
    settings = _settings(args)
    engine = _open(settings, rebuild=args.rebuild, reuse=args.reuse, ray=args.ray)
    m = engine.index.manifest
    print(f"index ready in {settings.index}: {m.bulletins} bulletins, {m.chunks} chunks, "
          f"{m.sentences} sentences, model {m.recipe.model} ({m.backend}, {m.index_type})")
    return 0


def _ask(args) -> int:
    if not args.question.strip():
        raise QueryError("the question is empty: ask something, e.g. rag ask \"Who leads the committee?\"")
    settings = _settings(args)
    engine = _open(settings)
    if args.explain:
        for row in engine.explain(args.question, args.top_k, args.mode)[:10]:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    answer = engine.ask(args.question, top_k=args.top_k, mode=args.mode)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.answer)
    if answer.span:
        print(f"\nShort answer: {answer.span}")
    print()
    if answer.abstained:
        for i, p in enumerate(answer.passages[:3], start=1):
            line = _line_of(engine, p.source, p.char_start)
            print(f"  nearest {i}: {p.title} ({_where(p)}line {line})")
    for c in answer.citations:
        print(f"[{c.n}] {c.title}\n    {_where(c)}line {_line_of(engine, c.source, c.char_start)}, "
              f"characters {c.char_start}-{c.char_end}")
    return 0


def _where(record) -> str:
    """"seeds/a.txt, ", or for an extracted file "seeds/a.pdf, page 2; text index/extracted/a-….txt, "."""
    if record.text_source in ("", record.source):
        return f"{record.source}, "
    page = f", page {record.page}" if record.page is not None else ""
    return f"{record.source}{page}; text {record.text_source}, "


def _line_of(engine, source: str, offset: int) -> int:
    return engine.files[source].text.count("\n", 0, offset) + 1


def _serve(args) -> int:
    from api.app import create_app, warm_up
    from api.server import serve

    settings = _settings(args)
    if args.ray is not None and args.replicas < 1:
        raise RagError("--replicas must be at least 1")
    engine = _open(settings, ray=args.ray)  # builds the index with a progress bar before the server starts
    if args.ray is not None:
        return _serve_on_ray(args, settings, engine)
    logging.getLogger("api").setLevel(logging.INFO)
    logging.getLogger("api.access").setLevel(logging.INFO)
    warm_up(engine)
    print(f"rag: serving {len(engine.index.bulletins)} bulletins on http://{args.host}:{args.port} "
          f"(chat at /, API docs at /docs)", file=sys.stderr)
    serve(create_app(settings, engine), settings, args.host, args.port)  # the app logs each request itself
    return 0


def _serve_on_ray(args, settings: Settings, engine) -> int:
    from api import ray_serve

    count = len(engine.index.bulletins)
    del engine  # the replicas and the writer load their own

    def ready() -> None:
        print(f"rag: serving {count} bulletins on http://{args.host}:{args.port} through Ray Serve, "
              f"{args.replicas} replica{'s' * (args.replicas != 1)} (chat at /, API docs at /docs)", file=sys.stderr)

    ray_serve.run(settings, "", args.host, args.port, args.replicas, on_ready=ready)
    return 0


def _eval(args) -> int:
    from eval.run import EvalOptions, run

    if (args.squad_remove_gold or args.squad_swapped or args.squad_antonym) and args.squad is None:
        raise RagError("--squad-remove-gold, --squad-swapped and --squad-antonym ask a SQuAD file's questions again: "
                       "give --squad FILE")
    options = EvalOptions(questions=tuple(args.questions or ()), squad=args.squad, beir=args.beir, mode=args.mode,
                          out=args.out, limit=args.limit, sample=args.sample, calibrate=args.calibrate,
                          answerers=args.answerer, squad_remove_gold=args.squad_remove_gold,
                          squad_swapped=args.squad_swapped, squad_antonym=args.squad_antonym, resume=args.resume)
    return run(options, _settings(args))


if __name__ == "__main__":
    sys.exit(main())
