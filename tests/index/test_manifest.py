"""The manifest: typed and immutable; written and read back unchanged; every kind of damage parses
into ``Broken`` (never an exception); a manifest as the previous code wrote it still loads."""

import dataclasses
import json

import pytest

from rag.config import Settings
from rag.index.manifest import (
    FORMAT_VERSION,
    PIPELINE_VERSION,
    Broken,
    Manifest,
    Recipe,
    manifest_bytes,
    parse_manifest,
)

# A manifest as `rag index` on main wrote it (an appended generation), key for key.
WRITTEN_BY_MAIN = {
    "pipeline": PIPELINE_VERSION, "model": "all-MiniLM-L6-v2", "chunk_tokens": 200, "chunk_overlap": 40,
    "default_year": 0, "corpus": "ab" * 32, "files": 2, "dimension": 384, "backend": "onnx-int8",
    "bulletins": 6, "chunks": 9, "sentences": 40, "embedded": 1, "index_type": "IndexFlatIP", "base_chunks": 8,
    "segments": ["0001"], "checksums": {"vectors.faiss": "00" * 32, "records.json": "11" * 32},
    "format": FORMAT_VERSION,
}


def manifest(**changes) -> Manifest:
    values = dict(recipe=Recipe.of(Settings()), corpus="cd" * 32, files=5, dimension=384, backend="fp32",
                  index_type="IndexFlatIP", bulletins=5, chunks=12, sentences=60, embedded=12,
                  checksums={"vectors.faiss": "ef" * 32})
    return Manifest(**{**values, **changes})


def as_bytes(value) -> bytes:
    return json.dumps(value).encode("utf-8")


def test_a_manifest_written_by_the_previous_code_loads_with_every_field():
    m = parse_manifest(as_bytes(WRITTEN_BY_MAIN))
    assert isinstance(m, Manifest)
    assert m.recipe == Recipe(PIPELINE_VERSION, "all-MiniLM-L6-v2", 200, 40, 0)
    assert (m.corpus, m.files, m.dimension, m.backend, m.index_type) == ("ab" * 32, 2, 384, "onnx-int8", "IndexFlatIP")
    assert (m.bulletins, m.chunks, m.sentences, m.embedded) == (6, 9, 40, 1)
    assert (m.base_chunks, m.segments, m.segment_chunks) == (8, ("0001",), 1)
    assert dict(m.checksums) == WRITTEN_BY_MAIN["checksums"]


def test_the_writer_writes_the_same_keys_and_the_parser_reads_back_the_same_manifest():
    appended = manifest(base_chunks=10, segments=("0001", "0002"))
    assert json.loads(manifest_bytes(appended)).keys() == WRITTEN_BY_MAIN.keys()
    for m in (manifest(), appended):
        assert parse_manifest(manifest_bytes(m)) == m
    assert "segments" not in json.loads(manifest_bytes(manifest()))  # a base alone lists none, as before


def test_a_manifest_cannot_be_changed_after_it_is_made():
    m = manifest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.chunks = 13
    with pytest.raises(TypeError):
        m.checksums["records.json"] = "00"
    assert m.with_(chunks=13).chunks == 13 and m.chunks == 12


def without(key):
    return {k: v for k, v in WRITTEN_BY_MAIN.items() if k != key}


BROKEN = {
    "not UTF-8": (b"\xff\xfe{}", "not JSON"),
    "cut short": (b'{"format": 2, "checks', "not JSON"),
    "a list": (b"[]", "not a JSON object"),
    "a string": (b'"manifest"', "not a JSON object"),
    "the old format": (as_bytes({**WRITTEN_BY_MAIN, "format": 1}), "format 1"),
    "no format": (as_bytes(without("format")), "format None"),
    "no checksums": (as_bytes(without("checksums")), "checksums are missing"),
    "checksums not digests": (as_bytes({**WRITTEN_BY_MAIN, "checksums": {"records.json": 7}}), "malformed"),
    "segment list not a list": (as_bytes({**WRITTEN_BY_MAIN, "segments": "0001"}), "not a list"),
    "segment leaving the folder": (as_bytes({**WRITTEN_BY_MAIN, "segments": ["../../etc"]}), "bad segment name"),
    "a count missing": (as_bytes(without("chunks")), "chunks is missing"),
    "a count as text": (as_bytes({**WRITTEN_BY_MAIN, "bulletins": "6"}), "bulletins is missing or not a count"),
    "a negative count": (as_bytes({**WRITTEN_BY_MAIN, "sentences": -1}), "sentences"),
    "a count that is a boolean": (as_bytes({**WRITTEN_BY_MAIN, "dimension": True}), "dimension"),
    "the dimension missing": (as_bytes(without("dimension")), "dimension"),
    "an optional count malformed": (as_bytes({**WRITTEN_BY_MAIN, "base_chunks": 2.5}), "base_chunks"),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_every_kind_of_broken_manifest_is_a_broken_value_saying_why(kind):
    data, problem = BROKEN[kind]
    result = parse_manifest(data)
    assert isinstance(result, Broken), kind
    assert problem in result.problem


@pytest.mark.parametrize("key", ["pipeline", "model", "chunk_tokens", "chunk_overlap", "default_year"])
def test_a_recipe_field_missing_makes_the_index_stale_not_broken(key):
    m = parse_manifest(as_bytes(without(key)))
    assert isinstance(m, Manifest) and getattr(m.recipe, key) is None
    assert m.recipe != Recipe.of(Settings())


def test_a_manifest_without_a_backend_or_corpus_still_parses():
    m = parse_manifest(as_bytes({k: v for k, v in WRITTEN_BY_MAIN.items() if k not in ("backend", "corpus")}))
    assert isinstance(m, Manifest) and m.backend is None and m.corpus is None
