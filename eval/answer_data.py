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
that reads like an answerable one but that the sentence does not answer.

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
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rag.answer.reading import context_text
from rag.fileio import write_atomic
from rag.search.bm25 import LexicalIndex, terms
from rag.text import split_sentences

from .datasets import Question

_YEAR = re.compile(r"\b(?:1[0-9]|20)\d\d\b")
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_NAME = re.compile(r"\b[A-Z][\w'\-]+(?: (?:of |the |de )?[A-Z][\w'\-]+)*")


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
    article_names = _names(" ".join(texts.values()))
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
        swapped = _swap(question, text[spans[gold][0]:spans[gold][1]], answer, article_names, rng)
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


_WORD = re.compile(r"\b[a-z][a-z\-]+\b")


def _plural(noun: str) -> str:
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + ("es" if re.search(r"(?:s|x|z|ch|sh)$", noun) else "s")


def reworded_question(question: str, said: str, answer: str, thesaurus, rng: random.Random) -> str | None:
    """``question`` with each lower-case word that ``said`` (the answer sentence and its headline)
    also says replaced by a WordNet synonym that it does not say ("Which city hosted ...?" ->
    "Which metropolis hosted ...?"); None when no word has one. Words of the answer and names
    (capitalised) stay.

    Why: SQuAD's writers mostly reused their sentence's words, so a model trained on SQuAD
    learns that shared words mean an answer, and doubts the sentence when a user says the same
    thing in other words. A reworded copy with the same answer, and the same negatives, teaches
    it to read meaning rather than count words (synonym replacement, Wei and Zou 2019)."""
    said_terms = set(terms(said))
    kept = set(terms(answer))
    out, last, changed = [], 0, 0
    for m in _WORD.finditer(question):
        word = m.group()
        own = set(terms(word))
        if len(word) < 4 or not own & said_terms or own & kept:
            continue
        base, plural = word, False
        if word not in thesaurus:
            base = next((b for b in (word[:-3] + "y" if word.endswith("ies") else "", word[:-2] if word.endswith("es")
                                     else "", word[:-1] if word.endswith("s") else "") if b and b in thesaurus), word)
            plural = base != word
        choices = [w for w in thesaurus.synonyms(base) if not set(terms(w)) & said_terms][:3]
        if not choices:
            continue
        out += [question[last:m.start()], _plural(rng.choice(choices)) if plural else rng.choice(choices)]
        last, changed = m.end(), changed + 1
    return "".join(out) + question[last:] if changed else None


_NEGATIONS = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "do": "don't", "does": "doesn't",
              "did": "didn't", "has": "hasn't", "have": "haven't", "had": "hadn't", "can": "can't",
              "could": "couldn't", "will": "won't", "would": "wouldn't", "should": "shouldn't", "must": "mustn't"}
_AUXILIARY = re.compile(r"\b(" + "|".join(_NEGATIONS) + r")\b", re.IGNORECASE)
_WH_START = re.compile(r"^(?:what|who|whom|whose|when|where|which|why|how|in what|in which)\b", re.IGNORECASE)
_ALREADY_NEGATED = re.compile(r"\b(?:not|never|no|none|nor)\b|n't\b", re.IGNORECASE)


def negate_question(question: str) -> str | None:
    """A wh-question with its first auxiliary, within its first five words, contracted with "not"
    ("When did ... end?" -> "When didn't ... end?"); the contraction reads right whether the
    subject comes before or after it. None when it has no such auxiliary or is already negative."""
    if not _WH_START.match(question) or _ALREADY_NEGATED.search(question):
        return None
    m = _AUXILIARY.search(question)
    if m is None or len(question[:m.start()].split()) > 4:
        return None
    word = m.group(1)
    negated = _NEGATIONS[word.lower()]
    if word[0].isupper():
        negated = negated[0].upper() + negated[1:]
    return question[:m.start()] + negated + question[m.end():]


# Opposites in the forms questions and sentences use them: superlatives, comparatives, directions,
# changes, order in time. General English, not any corpus's words; SQuAD 2.0's writers made a fifth
# of its unanswerable questions this way ("antonym", Rajpurkar et al. 2018: "What is the largest
# ...?" asked of a sentence that says the smallest). Words whose other senses are common ("left",
# "light", "end", "new" in names) are left out.
_OPPOSITES = (
    "largest smallest", "biggest smallest", "highest lowest", "most least", "first last", "earliest latest",
    "best worst", "longest shortest", "oldest youngest", "greatest least", "more fewer", "before after",
    "increase decrease", "increased decreased", "increases decreases", "increasing decreasing",
    "rise fall", "rose fell", "win lose", "won lost", "major minor", "north south", "east west",
    "northern southern", "eastern western", "upper lower", "maximum minimum", "positive negative",
    "public private", "male female", "inside outside", "above below", "early late", "higher lower",
    "larger smaller", "bigger smaller", "longer shorter", "older younger", "stronger weaker", "strongest weakest",
    "richest poorest", "wealthiest poorest", "heaviest lightest", "fastest slowest", "hottest coldest",
    "warmest coldest", "successful unsuccessful", "legal illegal", "common rare", "allowed forbidden",
    "accepted rejected", "supported opposed", "imported exported", "imports exports", "gained lost",
    "began ended", "internal external", "domestic foreign", "ancient modern", "rural urban", "majority minority",
    "arrived departed", "born died", "success failure", "victory defeat", "included excluded", "primary secondary",
    "offensive defensive", "allies enemies", "predecessor successor", "cheapest most expensive",
)
ANTONYMS = {a: b for pair in _OPPOSITES for a, b in (pair.split(" ", 1), pair.split(" ", 1)[::-1])}
_LOWER_WORD = re.compile(r"\b[a-z]+\b")


def antonym_question(question: str, sentence: str, answer: str) -> str | None:
    """``question`` with its first lower-case word that the answer sentence also says, and whose
    opposite (``ANTONYMS``) the sentence does not say, turned into that opposite ("What is the
    largest ...?" -> "What is the smallest ...?"): the topic matches, the relation the sentence
    states does not. None when no word qualifies or the word is part of the answer."""
    said = set(re.findall(r"[a-z]+", sentence.lower()))
    in_answer = set(re.findall(r"[a-z]+", answer.lower()))
    for m in _LOWER_WORD.finditer(question):
        word = m.group()
        opposite = ANTONYMS.get(word)
        if opposite and word in said and word not in in_answer and not set(opposite.split()) & said:
            return question[:m.start()] + opposite + question[m.end():]
    return None


def _names(text: str) -> dict[str, list[str]]:
    """Entities of an article by kind: years, other numbers, capitalised names (sorted, unique)."""
    years = set(_YEAR.findall(text))
    numbers = {n for n in _NUMBER.findall(text) if n not in years}
    found = _NAME.findall(text)
    counts = {m: found.count(m) for m in set(found)}
    # A capitalised word seen once is often just a sentence's first word ("For", "Level").
    names = {m for m, n in counts.items() if len(m) > 2 and (n > 1 or " " in m) and terms(m)}
    return {"year": sorted(years), "number": sorted(numbers), "name": sorted(names)}


def _swap(question: str, sentence: str, answer: str, article_names: dict[str, list[str]],
          rng: random.Random) -> str | None:
    """The question with one entity that the answer sentence also says replaced by another of the
    same kind from the article that the sentence does not say; None when there is none to swap."""
    found = []
    for kind, pattern in (("year", _YEAR), ("number", _NUMBER), ("name", _NAME)):
        for m in pattern.finditer(question):
            phrase = m.group(0)
            if m.start() == 0 and kind == "name" and " " not in phrase:
                continue  # a capitalised first word is usually just the start of the question
            if phrase in sentence and phrase not in answer and set(terms(phrase)):
                found.append((kind, m.start(), m.end(), phrase))
    rng.shuffle(found)
    for kind, start, end, phrase in found:
        options = [x for x in article_names[kind] if x != phrase and x not in sentence and x not in question
                   and not set(terms(x)) & set(terms(sentence))]
        if options:
            return question[:start] + rng.choice(options) + question[end:]
    return None


def swapped_question(article_text: str, paragraph_text: str, question: str, answer: str,
                     rng: random.Random) -> str | None:
    """``question`` made unanswerable the way the training data's "swap" negatives are (``_swap``):
    an entity its answer sentence says replaced by another of the article that the sentence does
    not say. None when the answer is not inside one sentence or nothing can be swapped.
    eval/answer_sweep.py and ``rag eval --squad-swapped`` ask these with the gold paragraph in the
    corpus: the topic matches, the fact does not."""
    sentence = _answer_sentence(paragraph_text, answer)
    if sentence is None:
        return None
    return _swap(" ".join(question.split()), sentence, " ".join(answer.split()),
                 _names(" ".join(article_text.split())), rng)


def swapped_questions(path: Path, questions: list[Question], seed: int = 0) -> list[Question]:
    """Those of ``questions`` (from the SQuAD file ``path``) that a swap can make unanswerable, made
    so (``swapped_question``); they keep their gold paragraph as the one that should be retrieved."""
    rng = random.Random(seed)
    return _asked_otherwise(path, questions, "swapped",
                            lambda article, paragraph, question, answer:
                            swapped_question(article, paragraph, question, answer, rng))


def antonym_questions(path: Path, questions: list[Question]) -> list[Question]:
    """Those of ``questions`` (from the SQuAD file ``path``) that an opposite makes unanswerable,
    made so (``antonym_question`` on their answer sentence); the gold paragraph stays the one that
    should be retrieved. ``rag eval --squad-antonym`` and eval/answer_sweep.py ask them."""

    def make(article_text: str, paragraph_text: str, question: str, answer: str) -> str | None:
        sentence = _answer_sentence(paragraph_text, answer)
        return antonym_question(" ".join(question.split()), sentence, answer) if sentence else None

    return _asked_otherwise(path, questions, "antonym", make)


def _answer_sentence(paragraph_text: str, answer: str) -> str | None:
    text = " ".join(paragraph_text.split())
    answer = " ".join(answer.split())
    where = text.find(answer) if answer else -1
    if where < 0:
        return None
    return next((text[s:e] for s, e in split_sentences(text, 0, len(text))
                 if s <= where and where + len(answer) <= e), None)


def _asked_otherwise(path: Path, questions: list[Question], kind: str, make) -> list[Question]:
    """Each of ``questions`` rewritten by ``make(article text, paragraph text, question, answer)``
    where it can be, as an unanswerable question of ``kind`` (id ``<id>-<kind>``)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    where = {}
    for article in data:
        article_text = " ".join(p["context"] for p in article["paragraphs"])
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                where[str(qa["id"])] = (article_text, paragraph["context"], qa)
    out = []
    for q in questions:
        article_text, context, qa = where[q.id]
        answer = qa["answers"][0]["text"] if qa.get("answers") else ""
        rewritten = make(article_text, context, qa["question"], answer)
        if rewritten:
            out.append(Question(f"{q.id}-{kind}", rewritten, (), False, dict(q.relevant), kind))
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
