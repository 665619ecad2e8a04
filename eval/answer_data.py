"""Training pairs for the answer model, made from SQuAD v1.1 (articles > paragraphs > questions).

Each pair is (question, candidate sentence with its context: headline and previous sentence),
labelled 1 when the sentence holds the gold answer (with the answer's character range inside
it, for the span head) and 0 otherwise. Negatives: other sentences of the gold paragraph (drawn
at random, or with ``--para-ranking bm25`` the ones closest to the question),
hard ones from other paragraphs of the same article (ranked by BM25 against the question: the
topic matches, the fact is elsewhere; what an open-domain search returns when the gold
paragraph is missing), and made-unanswerable questions: an entity, number or year of the
question that the answer sentence also says, swapped for another one from the same article,
paired with the answer sentence (the topic matches, the fact does not), and, for a share of
them, the question negated with its first auxiliary ("Who was named ...?" -> "Who wasn't named
...?"), paired with the answer sentence: the way adversarial benchmark writers make a question
that reads like an answerable one but that the sentence does not answer (eval/question_rewrites.py).

Sentences are cut with the project's splitter (rag/text.py) so they look like the ones the
engine scores. Whole articles are held out for validation. Everything is drawn from one
``random.Random(seed)``, so the same file and seed give the same pairs.

    python -m eval.answer_data --squad ../shared/data/squad-v1.1-train/squad-v1.1-train.json \\
        --out /tmp/answer-data --seed 0
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rag.answer.reading import context_text
from rag.fileio import write_atomic
from rag.search.bm25 import LexicalIndex, terms
from rag.text import split_sentences

from .question_rewrites import antonym_question, article_entities, negate_question, reworded_question, swap_entity

PARA_RANKINGS = ("random", "bm25")  # how the gold paragraph's negatives are chosen (build_pairs)


@dataclass(frozen=True)
class Pair:
    qid: str
    article: int
    question: str
    context: str  # headline | previous sentence
    sentence: str
    label: int
    answer_start: int = -1  # character range of the answer inside ``sentence`` (positives)
    answer_end: int = -1
    kind: str = ""  # pos, para (same paragraph), hard (other paragraph), swap / neg / anto (perturbed question)


@dataclass(frozen=True)
class _Sentence:
    paragraph: int
    text: str
    previous: str


def split_articles(n_articles: int, held_out: float, seed: int) -> tuple[list[int], list[int]]:
    """Article indexes for training and for validation (whole articles, drawn with ``seed``)."""
    order = list(range(n_articles))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(n_articles * held_out)) if n_articles > 1 else 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def build_pairs(data: list[dict], articles: list[int], seed: int, *, paragraphs_per_article: int = 16,
                questions_per_paragraph: int = 2, para_negatives: int = 1, hard_negatives: int = 1,
                swap_share: float = 0.3, negation_share: float = 0.0, validation: bool = False,
                draws: str = "sequential", workers: int = 1, para_ranking: str = "random",
                antonym_share: float = 0.0, paraphrase_share: float = 0.0, synonym_share: float = 0.0) -> list[Pair]:
    """Pairs for the given articles. ``validation``: every sentence of the gold paragraph and
    three hard negatives per question, so that selection can be scored over a whole paragraph.
    ``para_negatives`` < 0 keeps every other sentence of the gold paragraph; ``para_ranking``:
    which of them, drawn at random ("random", versions 1 to 5) or the ones that share most words
    with the question ("bm25": the sentence the engine's first stage would offer beside the
    answer, so that the model learns to tell it from the answer). With
    ``negation_share`` > 0, validation also gets every question's negated copy, at the end, and
    with ``antonym_share`` > 0 its antonym copy (``antonym_question``) after those.
    ``paraphrase_share``: for that share of paragraphs, the question that shares the fewest words
    with its answer sentence is one of those drawn (``_pick_questions``). ``synonym_share``: that
    share of questions is also asked reworded with WordNet synonyms (``reworded_question``), with
    the same answer and the same negatives.

    ``draws``: "sequential" draws every article from one ``Random(seed)`` in turn (the data of
    answer model versions 1 to 3); "per-article" gives each article its own
    ``Random(f"{seed}:{article}")``, so that ``workers`` processes can build articles at once and
    the pairs do not depend on how many there are."""
    if para_ranking not in PARA_RANKINGS:
        raise ValueError(f"para_ranking must be one of {', '.join(PARA_RANKINGS)}, not {para_ranking!r}")
    options = dict(paragraphs_per_article=paragraphs_per_article, questions_per_paragraph=questions_per_paragraph,
                   para_negatives=para_negatives, hard_negatives=hard_negatives, swap_share=swap_share,
                   negation_share=negation_share, validation=validation, para_ranking=para_ranking,
                   antonym_share=antonym_share, paraphrase_share=paraphrase_share, synonym_share=synonym_share)
    global _THESAURUS
    if synonym_share > 0 and _THESAURUS is None:
        from .thesaurus import Thesaurus

        _THESAURUS = Thesaurus()  # before any worker is forked, so that each has it
    if draws == "sequential":
        rng = random.Random(seed)
        pairs = [p for a in articles for p in _article_pairs(data[a], a, rng, **options)]
    elif draws == "per-article":
        pairs = _per_article_pairs(data, [(a, f"{seed}:{a}", options) for a in articles], workers)
    else:
        raise ValueError(f"draws must be 'sequential' or 'per-article', not {draws!r}")
    if not validation:
        return pairs
    return (pairs + (_negated_copies(pairs) if negation_share > 0 else [])
            + (_antonym_copies(pairs) if antonym_share > 0 else []))


def _per_article_pairs(data: list[dict], jobs: list, workers: int) -> list[Pair]:
    if workers <= 1 or len(jobs) < 2:
        return [p for job in jobs for p in _article_job(job, data)]
    import multiprocessing

    global _DATA
    _DATA = data  # handed to forked workers without pickling the whole file per task
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return [p for part in pool.imap(_article_job, jobs, chunksize=4) for p in part]
    finally:
        _DATA = None


_DATA: list[dict] | None = None
_THESAURUS = None  # eval.thesaurus.Thesaurus, loaded by build_pairs when synonym_share > 0


def _negated_copies(pairs: list[Pair]) -> list[Pair]:
    """Validation: every positive's question negated, on the same sentence (label 0). Appended
    after all other pairs, so that the pairs before them, and ``--val-pairs N`` prefixes, stay
    those of earlier versions."""
    out = []
    for p in pairs:
        negated = negate_question(p.question) if p.kind == "pos" else None
        if negated:
            out.append(Pair(p.qid, p.article, negated, p.context, p.sentence, 0, kind="neg"))
    return out


def _antonym_copies(pairs: list[Pair]) -> list[Pair]:
    """Validation: every positive's question with a word its answer sentence says turned into its
    opposite (``antonym_question``), on the same sentence (label 0). Appended last, as the negated
    copies are, so that earlier validation files stay prefixes of this one."""
    out = []
    for p in pairs:
        if p.kind != "pos":
            continue
        answer = p.sentence[p.answer_start:p.answer_end]
        opposite = antonym_question(p.question, p.sentence, answer)
        if opposite:
            out.append(Pair(p.qid, p.article, opposite, p.context, p.sentence, 0, kind="anto"))
    return out


def _article_job(job, data: list[dict] | None = None) -> list[Pair]:
    a, seed, options = job
    return _article_pairs((data or _DATA)[a], a, random.Random(seed), **options)


def _article_pairs(article: dict, a: int, rng: random.Random, *, paragraphs_per_article: int,
                   questions_per_paragraph: int, para_negatives: int, hard_negatives: int, swap_share: float,
                   negation_share: float, validation: bool, para_ranking: str = "random",
                   antonym_share: float = 0.0, paraphrase_share: float = 0.0,
                   synonym_share: float = 0.0) -> list[Pair]:
    pairs: list[Pair] = []
    title = article.get("title", "").replace("_", " ")
    chosen = sorted(rng.sample(range(len(article["paragraphs"])),
                               min(paragraphs_per_article, len(article["paragraphs"]))))
    sentences: list[_Sentence] = []
    spans: dict[int, list[tuple[int, int]]] = {}
    texts: dict[int, str] = {}
    for p in chosen:
        text = " ".join(article["paragraphs"][p]["context"].split())
        texts[p] = text
        spans[p] = split_sentences(text, 0, len(text))
        previous = ""
        for s, e in spans[p]:
            sentences.append(_Sentence(p, text[s:e], previous))
            previous = text[s:e]
    lexical = LexicalIndex([s.text for s in sentences])
    article_names = article_entities(" ".join(texts.values()))
    for p in chosen:
        qas = article["paragraphs"][p]["qas"]
        picked = qas if validation else _pick_questions(qas, questions_per_paragraph, rng, paraphrase_share,
                                                        texts[p], spans[p], title)
        for qa in picked:
            pairs += _pairs_for(qa, a, title, p, texts[p], spans[p], sentences, lexical, article_names, rng,
                                para_negatives=None if validation or para_negatives < 0 else para_negatives,
                                hard_negatives=3 if validation else hard_negatives,
                                swap=validation or rng.random() < swap_share,
                                # no draw when off, so that the data of earlier versions stays the same
                                negate=not validation and negation_share > 0 and rng.random() < negation_share,
                                antonym=not validation and antonym_share > 0 and rng.random() < antonym_share,
                                para_ranking=para_ranking,
                                reword=not validation and synonym_share > 0 and rng.random() < synonym_share)
    return pairs


def _pick_questions(qas: list[dict], k: int, rng: random.Random, paraphrase_share: float, text: str,
                    spans: list[tuple[int, int]], title: str) -> list[dict]:
    """``k`` of a paragraph's questions drawn at random; for ``paraphrase_share`` of paragraphs the
    last of them is replaced by the paragraph's question that shares the fewest words with its
    answer sentence (``word_overlap``), unless it was drawn already.

    Why: most SQuAD questions reuse their answer sentence's words, and a model trained on them
    learns that shared words mean an answer. Users paraphrase ("the panel of specialists" for
    "the expert committee"); the model then finds the answer phrase but doubts the sentence. No
    draw is made at share 0, so the data of earlier versions stays the same."""
    picked = rng.sample(qas, min(k, len(qas)))
    if paraphrase_share <= 0 or rng.random() >= paraphrase_share or not picked:
        return picked
    known = [(o, n) for n, qa in enumerate(qas) if (o := word_overlap(qa, text, title, spans)) is not None]
    least = qas[min(known)[1]] if known else None
    if least is not None and least not in picked:
        picked[-1] = least
    return picked


def word_overlap(qa: dict, text: str, title: str = "", spans: list[tuple[int, int]] | None = None) -> float | None:
    """The share of the question's terms (stemmed, no stop words) that its answer sentence or the
    headline says (the model reads both); None when the answer is not found in one sentence or the
    question has no terms. ``spans``: the paragraph's sentences, where the caller has split it already."""
    answer = " ".join(qa["answers"][0]["text"].split())
    where = text.find(answer) if answer else -1
    if where < 0:
        return None
    if spans is None:
        spans = split_sentences(text, 0, len(text))
    sentence = next((text[s:e] for s, e in spans if s <= where < e), None)
    asked = set(terms(qa["question"]))
    if sentence is None or not asked:
        return None
    return len(asked & set(terms(sentence + " " + title))) / len(asked)


def _pairs_for(qa, article: int, title: str, paragraph: int, text: str, spans, sentences, lexical,
               article_names: dict[str, list[str]], rng: random.Random, *, para_negatives: int | None,
               hard_negatives: int, swap: bool, negate: bool = False, para_ranking: str = "random",
               antonym: bool = False, reword: bool = False) -> list[Pair]:
    answer = " ".join(qa["answers"][0]["text"].split())
    where = text.find(answer) if answer else -1
    if where < 0:
        return []
    gold = next((k for k, (s, e) in enumerate(spans) if s <= where and where + len(answer) <= e), None)
    if gold is None:  # the answer crosses a sentence boundary
        return []
    question = " ".join(qa["question"].split())
    qid = qa["id"]

    def pair(k: int, label: int, kind: str, q: str = question, start: int = -1, end: int = -1) -> Pair:
        s, e = spans[k]
        previous = text[spans[k - 1][0]:spans[k - 1][1]] if k else ""
        return Pair(qid, article, q, context_text(title, previous), text[s:e], label, start, end, kind)

    start = where - spans[gold][0]
    out = [pair(gold, 1, "pos", start=start, end=start + len(answer))]
    others = [k for k in range(len(spans)) if k != gold]
    scores = lexical.scores(question)
    if para_negatives is not None and para_ranking == "bm25":
        first = next(i for i, s in enumerate(sentences) if s.paragraph == paragraph)  # the paragraph's sentences, in order
        others = sorted(others, key=lambda k: -float(scores[first + k]))[:para_negatives]
    elif para_negatives is not None:
        others = rng.sample(others, min(para_negatives, len(others)))
    out += [pair(k, 0, "para") for k in others]
    ranked = [i for i in scores.argsort()[::-1].tolist() if sentences[i].paragraph != paragraph]
    for i in ranked[:hard_negatives]:
        s = sentences[i]
        out.append(Pair(qid, article, question, context_text(title, s.previous), s.text, 0, kind="hard"))
    if swap:
        swapped = swap_entity(question, text[spans[gold][0]:spans[gold][1]], answer, article_names, rng)
        if swapped:
            out.append(pair(gold, 0, "swap", q=swapped))
    negated = negate_question(question) if negate else None
    if negated:
        out.append(pair(gold, 0, "neg", q=negated))
    opposite = antonym_question(question, text[spans[gold][0]:spans[gold][1]], answer) if antonym else None
    if opposite:
        out.append(pair(gold, 0, "anto", q=opposite))
    reworded = reworded_question(question, title + " " + text[spans[gold][0]:spans[gold][1]], answer,
                                 _THESAURUS, rng) if reword else None
    if reworded:  # the same question in other words: the same answer, the same negatives
        out += [replace(p, qid=qid + ":syn", question=reworded, kind="syn" if p.label else p.kind)
                for p in out if p.kind in ("pos", "para", "hard")]
    return out


def write_pairs(pairs: list[Pair], path: Path) -> None:
    write_atomic(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs).encode("utf-8"))


def read_pairs(path: Path) -> list[Pair]:
    with open(path, encoding="utf-8") as handle:
        return [Pair(**json.loads(line)) for line in handle if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.answer_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD v1.1 training JSON")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.jsonl and val.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-seed", type=int, help="seed of the held-out articles and their validation pairs "
                        "(default: --seed); keep it at 0 to draw fresh training pairs with another --seed while "
                        "holding out the articles every shipped version was validated on")
    parser.add_argument("--held-out", type=float, default=0.05, help="share of articles kept for validation")
    parser.add_argument("--paragraphs-per-article", type=int, default=16)
    parser.add_argument("--questions-per-paragraph", type=int, default=2)
    parser.add_argument("--val-paragraphs-per-article", type=int, default=4)
    parser.add_argument("--swap-share", type=float, default=0.3, help="share of questions also made unanswerable")
    parser.add_argument("--negation-share", type=float, default=0.0,
                        help="share of questions also negated (paired with the answer sentence, label 0); "
                        "validation then gets every negated question, after its other pairs")
    parser.add_argument("--antonym-share", type=float, default=0.0,
                        help="share of questions also asked with a word their answer sentence says turned into its "
                        "opposite (paired with the answer sentence, label 0); validation then gets every such copy, last")
    parser.add_argument("--paraphrase-share", type=float, default=0.0,
                        help="share of paragraphs whose question sharing the fewest words with its answer sentence "
                        "is one of those drawn (the paraphrased questions users ask)")
    parser.add_argument("--synonym-share", type=float, default=0.0,
                        help="share of questions also asked reworded with WordNet synonyms for the words their answer "
                        "sentence says (the same answer and negatives; needs the train extra)")
    parser.add_argument("--para-negatives", type=int, default=1,
                        help="other sentences of the gold paragraph per question (-1: all of them)")
    parser.add_argument("--para-ranking", choices=PARA_RANKINGS, default="random",
                        help="which of the gold paragraph's other sentences: drawn at random (versions 1 to 5) or "
                        "the BM25-best against the question (the one the engine's first stage offers beside the answer)")
    parser.add_argument("--hard-negatives", type=int, default=1, help="best BM25 sentences of other paragraphs")
    parser.add_argument("--draws", choices=("sequential", "per-article"), default="sequential",
                        help="one random stream for all training articles (versions 1 to 3), or one per article")
    parser.add_argument("--workers", type=int, default=1, help="processes building articles (--draws per-article)")
    parser.add_argument("--val-squad", type=Path, help="also write the held-out articles here as a SQuAD file, "
                        "for `rag eval --squad` (open-domain figures on articles the model never saw)")
    args = parser.parse_args(argv)
    data = json.loads(args.squad.read_text(encoding="utf-8"))["data"]
    split_seed = args.seed if args.split_seed is None else args.split_seed
    train_ids, val_ids = split_articles(len(data), args.held_out, split_seed)
    try:
        train = build_pairs(data, train_ids, args.seed, paragraphs_per_article=args.paragraphs_per_article,
                            questions_per_paragraph=args.questions_per_paragraph, swap_share=args.swap_share,
                            negation_share=args.negation_share, para_negatives=args.para_negatives,
                            hard_negatives=args.hard_negatives, draws=args.draws,
                            workers=args.workers, para_ranking=args.para_ranking, antonym_share=args.antonym_share,
                            paraphrase_share=args.paraphrase_share, synonym_share=args.synonym_share)
    except FileNotFoundError as error:  # --synonym-share without WordNet
        parser.error(str(error))
    val = build_pairs(data, val_ids, split_seed + 1, paragraphs_per_article=args.val_paragraphs_per_article,
                      questions_per_paragraph=1, validation=True, negation_share=args.negation_share,
                      antonym_share=args.antonym_share)
    write_pairs(train, args.out / "train.jsonl")
    write_pairs(val, args.out / "val.jsonl")
    if args.val_squad is not None:
        held_out = {"version": "1.1", "data": [data[a] for a in val_ids]}
        write_atomic(args.val_squad, json.dumps(held_out, ensure_ascii=False).encode("utf-8"))
    for name, pairs, ids in (("train", train, train_ids), ("val", val, val_ids)):
        kinds = {k: sum(p.kind == k for p in pairs) for k in ("pos", "para", "hard", "swap", "neg", "anto", "syn")}
        print(f"{name}: {len(ids)} articles, {len({p.qid for p in pairs})} questions, {len(pairs)} pairs {kinds}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
