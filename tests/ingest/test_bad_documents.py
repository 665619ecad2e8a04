"""A corpus folder full of trouble: every file is taken correctly or skipped with a one-line reason."""

from __future__ import annotations

import logging
import os

from rag.config import PROJECT_ROOT, Settings
from rag.ingest.files import read_corpus
from rag.service.lifecycle import open_engine
from rag.text import MAX_SENTENCE_CHARS, split_sentences

GOOD = "Solar Plant Opens in Qinghai\n\nOn June 3, 2024, a solar plant opened in Golmud. It can make 2 gigawatts.\n"


def make_bad_corpus(folder, outside):
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_bytes(b" \n\n \n")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "gbk.txt").write_bytes("煤炭消费下降\n\n2024年5月5日，国家统计局说煤炭消费下降了。".encode("gbk"))
    (folder / "utf16.txt").write_bytes("Wind Record Set\n\nOn July 1, 2024, wind output set a record in Inner Mongolia.".encode("utf-16"))
    (folder / "no-separators.txt").write_text(
        "Hydrogen Plan Released\nOn May 9, 2024, Ningxia released a hydrogen plan.\nIt aims for ten plants by 2030.\n",
        encoding="utf-8")
    (folder / "chinese.txt").write_text(
        "国家碳中和科技专家委员会成立\n\n2023年3月1日，科技部在北京召开专家委员会第一次会议。刘中民院士担任专家委员会组长！",
        encoding="utf-8")
    (folder / "big.txt").write_bytes(b"word " * (50 * 1024 * 1024 // 5))  # 50 MB
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    outside.write_text("Secret Outside Bulletin\n\nThis must never be indexed.", encoding="utf-8")
    os.symlink(outside, folder / "escape.txt")
    os.symlink(folder / "good.txt", folder / "alias.txt")  # a link inside the folder is fine
    os.symlink(outside.parent, folder / "linked-dir")  # folders reached by links are not walked


def test_bad_documents_are_taken_or_skipped_with_a_reason(tmp_path, caplog):
    folder, outside = tmp_path / "corpus", tmp_path / "outside.txt"
    make_bad_corpus(folder, outside)
    with caplog.at_level(logging.WARNING, logger="rag.ingest.files"):
        files = read_corpus(folder, PROJECT_ROOT, max_bytes=20_000_000)
    taken = {f.path.name for f in files}
    assert taken == {"good.txt", "alias.txt", "gbk.txt", "utf16.txt", "no-separators.txt", "chinese.txt"}
    assert "煤炭消费下降" in next(f.text for f in files if f.path.name == "gbk.txt")
    assert next(f.text for f in files if f.path.name == "utf16.txt").startswith("Wind Record Set")
    warnings = {r.getMessage().split(":")[0].rsplit("/", 1)[-1]: r.getMessage() for r in caplog.records}
    assert "empty" in warnings["empty.txt"] and "empty" in warnings["blank.md"]
    assert "binary" in warnings["binary.txt"]
    assert "limit" in warnings["big.txt"]
    assert "outside" in warnings["escape.txt"]
    assert all("\n" not in message for message in warnings.values())


def test_a_bad_corpus_still_indexes_and_answers(tmp_path, embedder):
    folder, outside = tmp_path / "corpus", tmp_path / "outside.txt"
    make_bad_corpus(folder, outside)
    engine, _ = open_engine(Settings(seeds=folder, index=tmp_path / "index"), embedder)
    titles = {b.title for b in engine.index.bulletins}
    assert {"Solar Plant Opens in Qinghai", "Hydrogen Plan Released", "Wind Record Set",
            "煤炭消费下降", "国家碳中和科技专家委员会成立"} <= titles
    assert "Secret Outside Bulletin" not in titles
    answer = engine.ask("Where did the solar plant open?")
    assert "Golmud" in answer.answer
    chinese = engine.ask("刘中民院士担任什么？")
    for c in chinese.citations:
        assert engine.files[c.source].text[c.char_start:c.char_end] == c.quote


def test_chinese_sentences_split_on_chinese_punctuation():
    text = "科技部召开会议。刘中民院士担任组长！会议在北京召开？"
    assert [text[s:e] for s, e in split_sentences(text, 0, len(text))] == [
        "科技部召开会议。", "刘中民院士担任组长！", "会议在北京召开？"]


def test_unpunctuated_text_is_cut_into_bounded_sentences():
    text = ("carbon " * 2000).strip()
    ranges = split_sentences(text, 0, len(text))
    assert len(ranges) > 1
    assert all(e - s <= MAX_SENTENCE_CHARS and text[s:e] == text[s:e].strip() for s, e in ranges)
