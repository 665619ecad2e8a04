"""`rag eval`: ask every question of a suite in each retrieval mode, score it, write the report.

Own questions run against the configured seeds and index. SQuAD and BEIR sets are written as a
corpus of bulletin files into a temporary folder and indexed there, never in the configured
``index/``. Exit code 1 when any citation fails to slice back to its quote.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from rag.config import MODES, Settings
from rag.errors import RagError
from rag.ingest.files import read_text
from rag.progress import ProgressBar
from rag.search.hybrid import Filters
from rag.service.engine import Engine
from rag.service.lifecycle import load_embedder, open_engine

from . import calibrate, datasets, metrics, report
from .journal import FILE_NAME as JOURNAL
from .journal import Journal, fingerprint

RETRIEVAL_TOP_K = 20  # passages fetched to rank documents; several passages may share a bulletin
RANK_DEPTH = 10  # documents scored by recall@k, MRR and nDCG
WITH_AND_WITHOUT_GOLD = ("squad", "squad-no-gold")  # scored together as "right" (``squad_right``)


@dataclass(frozen=True)
class EvalOptions:
    """What ``rag eval`` is asked to do (the CLI builds it from its options)."""

    questions: tuple[Path, ...] = ()  # own question sets, one suite over the seeds; none: eval/questions.jsonl
    squad: Path | None = None  # a SQuAD v1.1/v2.0 JSON file
    beir: Path | None = None  # a BEIR folder
    mode: str = "hybrid"  # a retrieval mode, or "all"
    out: Path = Path("eval/out")
    limit: int | None = None  # at most this many questions per suite
    sample: int | None = None  # this many questions drawn with random.Random(0)
    calibrate: bool = False  # also fit the abstention threshold
    answerers: str | None = None  # "heuristic", "model" or "heuristic,model"; None: the settings'
    squad_remove_gold: bool = False  # also ask the SQuAD questions without their gold paragraph
    squad_swapped: bool = False  # also ask them with an entity swapped, the gold paragraph kept (eval/answer_data.py)
    squad_antonym: bool = False  # also ask them with a word turned into its opposite, the gold paragraph kept
    resume: bool = False  # go on from ``out``'s journal of a stopped run with the same options (eval/journal.py)


def run(options: EvalOptions, settings: Settings, embedder=None) -> int:
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise RagError(f"--out {out} is a file: give the folder the report goes into")
    try:  # before any question is asked: a report that cannot be written is said at once, in one line
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RagError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    modes = list(MODES) if options.mode == "all" else [options.mode]
    answerers = [a.strip() for a in (options.answerers or settings.answerer).split(",") if a.strip()]
    if "model" in answerers:  # the engine loads the model once; each question says which answerer
        settings = settings.with_(answerer="model")
    settings = settings.with_(answer_cache=0)  # every latency measures answering, never a kept answer
    embedder = embedder or load_embedder(settings)
    started = time.perf_counter()
    result: dict = {"modes": modes, "abstain_threshold": settings.abstain_threshold,
                    "model": settings.model_name, "backend": embedder.backend, "top_k": settings.top_k,
                    "query_precision": settings.query_precision, "suites": {}}
    details: list[dict] = []
    both: dict[str, list[dict]] = {}  # per column, the SQuAD questions asked with and without their paragraph
    journal = Journal(out / JOURNAL, fingerprint(options, settings), options.resume)
    if journal.done:
        print(f"rag eval: resuming, {len(journal.done)} scored questions read from {journal.path}", file=sys.stderr)
    with journal, tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        for suite in _suites(options, Path(tmp)):
            bar = ProgressBar()
            engine, opened = open_engine(suite_settings(settings, suite), embedder, progress=bar)
            bar.close()
            m = engine.index.manifest
            print(f"{suite.name}: {len(suite.questions)} questions over {m.bulletins} bulletins "
                  f"({m.chunks} chunks), index {'built' if opened.rebuilt else 'loaded'} in "
                  f"{opened.seconds:.1f} s", file=sys.stderr)
            section = {"source": suite.source, "questions": len(suite.questions),
                       "bulletins": m.bulletins, "chunks": m.chunks,
                       "index_seconds": round(opened.seconds, 1), "retrieval_only": suite.retrieval_only,
                       "modes": {}, "by_kind": {}, "by_lang": {}}
            texts: dict[str, str] = {}
            for mode in modes:
                for answerer in answerers:  # a column per mode, or per mode and answerer
                    column = mode if len(answerers) == 1 else f"{mode}+{answerer}"
                    records = []
                    for q in tqdm(suite.questions, desc=f"{suite.name} {column}", unit="q", file=sys.stderr):
                        record = journal.get(suite.name, column, q.id, q.text)
                        if record is None:
                            record = evaluate_question(engine, suite, q, mode, texts, answerer)
                            journal.add(suite.name, column, q.text, record)
                        records.append(record)
                    section["modes"][column] = summarize(records, suite.retrieval_only)
                    if suite.name in WITH_AND_WITHOUT_GOLD:
                        both.setdefault(column, []).extend(records)
                    section["by_kind"][column] = _by_kind(records, suite.retrieval_only)
                    section["by_lang"][column] = _by_group(records, suite.retrieval_only, "lang")
                    details += [{"suite": suite.name, "answerer": answerer, **r} for r in records]
            if options.calibrate and suite.name == "own":
                result["calibration"] = _calibrate(engine, suite, modes, settings)
            result["suites"][suite.name] = section
    if options.squad_remove_gold and both:
        # the README's "right" for SQuAD: the questions with their paragraph and the same ones without
        result["squad_right"] = {column: _right(records) for column, records in both.items()}
    result["seconds"] = round(time.perf_counter() - started, 1)
    report.write(result, details, out)
    print(report.terminal_table(result))
    print(f"\nreport: {out / 'report.md'}, {out / 'report.json'}, {out / 'report.png'}")
    invalid = [(name, mode) for name, s in result["suites"].items() for mode, m in s["modes"].items()
               if m.get("citation_validity") is not None and m["citation_validity"] < 1.0]
    if invalid:
        print(f"rag eval: citation validity below 100% in {invalid}", file=sys.stderr)
        return 1
    return 0


def suite_settings(settings: Settings, suite: datasets.Suite) -> Settings:
    """The settings a suite is asked with: a generated corpus is indexed beside it, never in index/."""
    if suite.seeds is None:
        return settings
    index = suite.seeds.parent / "index"
    return settings.with_(seeds=suite.seeds, index=index, uploads=index / "uploads")


def _suites(options: EvalOptions, tmp: Path) -> list[datasets.Suite]:
    suites = []
    if options.questions or not (options.squad or options.beir):
        # several files (e.g. the English and the Chinese set) are one suite over the same seeds
        paths = [Path(p) for p in (options.questions or (datasets.OWN_QUESTIONS,))]
        questions = [q for path in paths for q in datasets.load_questions(path)]
        suites.append(datasets.Suite("own", ", ".join(map(str, paths)), questions, None, None))
    if options.squad:
        questions, keys = datasets.load_squad(options.squad, tmp / "squad" / "corpus")
        suites.append(datasets.Suite("squad", str(options.squad), questions, tmp / "squad" / "corpus", keys))
        if options.squad_remove_gold:
            # The same questions, each asked of the corpus without its gold paragraph: to be refused.
            suites.append(datasets.Suite("squad-no-gold", str(options.squad), questions, tmp / "squad" / "corpus",
                                         keys, remove_gold=True))
    if options.beir:
        questions, keys = datasets.load_beir(options.beir, tmp / "beir" / "corpus")
        suites.append(datasets.Suite("beir", str(options.beir), questions, tmp / "beir" / "corpus", keys,
                                     retrieval_only=True))
    suites = [replace(s, questions=datasets.sample(s.questions, options.sample)[:options.limit]) for s in suites]
    if options.squad and options.squad_swapped:
        # The same sampled questions, those a swap can make unanswerable, with their paragraph there: to be refused.
        from .question_rewrites import swapped_questions

        asked = next(s for s in suites if s.name == "squad")
        suites.append(replace(asked, name="squad-swapped", questions=swapped_questions(options.squad, asked.questions)))
    if options.squad and options.squad_antonym:
        # The same sampled questions, those an opposite makes unanswerable ("largest" -> "smallest"): to be refused.
        from .question_rewrites import antonym_questions

        asked = next(s for s in suites if s.name == "squad")
        suites.append(replace(asked, name="squad-antonym", questions=antonym_questions(options.squad, asked.questions)))
    return suites


def evaluate_question(engine: Engine, suite: datasets.Suite, q: datasets.Question, mode: str,
                      texts: dict[str, str], answerer: str | None = None) -> dict:
    """One question in one mode: its retrieval ranks, and unless retrieval-only, its answer's scores.

    ``texts`` caches the cited files as read from disk, by source. In a ``remove_gold`` suite the
    question is asked of every bulletin but its gold ones, and counts as unanswerable.
    """
    filters = Filters()
    if suite.remove_gold:
        filters = Filters(bulletin_ids=frozenset(b.id for b in engine.bulletins.values()
                                                 if suite.doc_key(b.title, b.source) not in q.relevant))
        q = replace(q, answers=(), answerable=False, relevant={})
    record: dict = {"id": q.id, "mode": mode, "kind": q.kind, "lang": q.lang, "answerable": q.answerable}
    t0 = time.perf_counter()
    passages, _, _ = engine.search(q.text, top_k=RETRIEVAL_TOP_K, mode=mode, filters=filters)
    search_ms = (time.perf_counter() - t0) * 1000
    if q.relevant:
        ranked = metrics.dedupe(suite.doc_key(p.title, p.source) for p in passages)[:RANK_DEPTH]
        record.update({f"recall@{k}": metrics.recall_at_k(ranked, q.relevant, k) for k in (1, 5, 10)})
        record["rr"] = metrics.reciprocal_rank(ranked, q.relevant)
        record["ndcg@10"] = metrics.ndcg_at_k(ranked, q.relevant, 10)
    if suite.retrieval_only:
        record["latency_ms"] = round(search_ms, 2)
        return record
    t0 = time.perf_counter()
    answer = engine.ask(q.text, mode=mode, filters=filters, answerer=answerer)
    record["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    quotes = [c.quote for c in answer.citations]
    record.update(abstained=answer.abstained, span=answer.span, citations=len(quotes),
                  valid_citations=sum(_citation_valid(c, texts, engine) for c in answer.citations),
                  words=sum(metrics.word_count(t) for t in quotes))
    if q.answerable:
        record.update(hit1=metrics.contains_answer(quotes[0] if quotes else "", q.answers),
                      hit=metrics.contains_answer(" ".join(quotes), q.answers),
                      em=metrics.exact_match(answer.span, q.answers),
                      f1=metrics.token_f1(answer.span, q.answers),
                      cited_gold=any(suite.doc_key(c.title, c.source) in q.relevant for c in answer.citations)
                      if q.relevant else None)
    return record


def summarize(records: list[dict], retrieval_only: bool) -> dict:
    """Mean metrics over the records of one mode."""
    def avg(key, rows=records):
        return metrics.mean(float(r[key]) if r.get(key) is not None else None for r in rows)

    latency = [r["latency_ms"] for r in records]
    out = {"n": len(records), **{k: avg(k) for k in ("recall@1", "recall@5", "recall@10")},
           "mrr": avg("rr"), "ndcg@10": avg("ndcg@10"),
           "latency_p50_ms": metrics.percentile(latency, 50), "latency_p95_ms": metrics.percentile(latency, 95),
           "latencies_ms": latency}
    if retrieval_only:
        return out
    answerable = [r for r in records if r["answerable"]]
    answered = [r for r in records if not r["abstained"]]
    citations = sum(r["citations"] for r in records)
    out.update({
        "answerable": len(answerable), "unanswerable": len(records) - len(answerable),
        "hit@1": avg("hit1", answerable), "hit": avg("hit", answerable), "cited_gold": avg("cited_gold", answerable),
        "span_em": avg("em", answerable), "span_f1": avg("f1", answerable),
        "answer_words": avg("words", answered),
        **metrics.abstention_scores([r["abstained"] for r in records], [r["answerable"] for r in records]),
        "right": _right(records),
        "citations": citations,
        "citation_validity": sum(r["valid_citations"] for r in records) / citations if citations else None,
    })
    return out


def _right(records: list[dict]) -> float | None:
    return metrics.right_share([r.get("hit1") for r in records], [r["abstained"] for r in records],
                               [r["answerable"] for r in records])


def _by_kind(records: list[dict], retrieval_only: bool) -> dict:
    return _by_group(records, retrieval_only, "kind")


def _by_group(records: list[dict], retrieval_only: bool, key: str) -> dict:
    """The main metrics per value of ``key`` (kind of question, language); empty when only one."""
    groups = sorted({r[key] for r in records if r.get(key)})
    if len(groups) < 2:
        return {}
    table = {}
    for group in groups:
        rows = [r for r in records if r.get(key) == group]
        s = summarize(rows, retrieval_only)
        table[group] = {k: s.get(k) for k in ("n", "recall@1", "mrr", "hit@1", "hit", "span_f1",
                                                "false_abstention_rate", "abstention_recall", "latency_p50_ms")}
    return table


def _calibrate(engine: Engine, suite: datasets.Suite, modes: list[str], settings: Settings) -> dict:
    fitted = {}
    for mode in modes:
        scores = [calibrate.max_relevance(engine, q.text, mode)
                  for q in tqdm(suite.questions, desc=f"calibrate {mode}", unit="q", file=sys.stderr)]
        fitted[mode] = calibrate.calibration(scores, [q.answerable for q in suite.questions],
                                             settings.abstain_threshold)
        fitted[mode]["by_question"] = {q.id: round(s, 4) for q, s in zip(suite.questions, scores)}
        fitted[mode]["by_lang"] = _calibrate_by_lang(suite.questions, scores)
    return {"mode": settings.mode if settings.mode in fitted else modes[0], "by_mode": fitted}


def _calibrate_by_lang(questions: list, scores: list[float]) -> dict:
    """Per language (questions not in English are judged by their own threshold, see
    ``Settings.cross_lingual_threshold``): the threshold fitted on all its questions, and on its
    answerable and off-topic (``unanswerable-far``) ones alone, with the leave-one-out scores."""
    out = {}
    for lang in sorted({q.lang for q in questions}):
        rows = [(s, q) for q, s in zip(questions, scores) if q.lang == lang]
        far = [(s, q) for s, q in rows if q.answerable or q.kind == "unanswerable-far"]
        out[lang] = {}
        for name, chosen in (("all", rows), ("off_topic", far)):
            values, labels = [s for s, _ in chosen], [q.answerable for _, q in chosen]
            if len(set(labels)) < 2:
                continue
            threshold, _ = calibrate.fit_threshold(values, labels)
            out[lang][name] = {"threshold": round(threshold, 4), "n": len(chosen),
                               "fitted": calibrate.scores_at(threshold, values, labels),
                               "loo": calibrate.leave_one_out(values, labels)}
    return out


def _citation_valid(citation, texts: dict[str, str], engine: Engine) -> bool:
    """Read the file the citation slices from disk (not the engine's copy of its text: the source,
    or the text extracted from a PDF, web page or Word file) and slice it."""
    name = citation.text_source or citation.source
    if name not in texts:
        known = engine.files.get(citation.source)
        path = None if known is None else (known.extracted_path if known.extracted_path else known.path)
        texts[name] = (read_text(path) if path else "") or ""
    return metrics.citation_is_valid(texts[name], citation.char_start, citation.char_end, citation.quote)
