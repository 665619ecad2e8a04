"""rag/extract: real PDF, HTML and Word files built here, their text, pages, headlines and dates;
bad files refused with a reason; the extracted text kept on disk and re-used."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT
from rag.ingest.extract import ExtractionError, extract, page_of
from rag.ingest.extract.cache import extracted_text, prune
from rag.ingest.files import read_corpus

from helpers_documents import docx_bytes, html_page, pdf_bytes, scanned_pdf_bytes

PAGE_ONE = ["Wind Power Record Set in Inner Mongolia",
            "On July 1, 2024, wind farms in Inner Mongolia produced a record 40 gigawatts for the grid."]
PAGE_TWO = ["The regional grid company said the record lasted for three hours in the afternoon."]


def test_pdf_text_keeps_its_pages():
    found = extract(".pdf", pdf_bytes([PAGE_ONE, PAGE_TWO], title="Grid report"))
    assert found.title == "Grid report" and len(found.pages) == 2
    second = found.text.index("The regional grid company")
    assert page_of(found.pages, second) == 2
    assert page_of(found.pages, found.text.index("produced a record")) == 1
    assert found.text[found.pages[1]:].startswith("The regional grid company")
    assert found.text.startswith("Wind Power Record Set in Inner Mongolia\n")


def test_page_of_text_without_pages_is_none():
    assert page_of((), 10) is None


@pytest.mark.parametrize("data, reason", [
    (pdf_bytes([PAGE_ONE], password="secret"), "encrypted"),
    (scanned_pdf_bytes(), "no text layer"),
    (pdf_bytes([PAGE_ONE])[:400], "corrupt"),
    (b"%PDF-1.4\n", "corrupt"),
])
def test_bad_pdfs_say_why(data, reason):
    with pytest.raises(ExtractionError, match=reason):
        extract(".pdf", data)


def test_html_main_text_headline_and_published_date():
    page = html_page("Wind Power Record Set", ["On July 1, wind farms produced a record 40 gigawatts for the grid.",
                                               "The record lasted for three hours."], published="2024-07-02")
    found = extract(".html", page.encode("utf-8"))
    lines = found.text.split("\n")
    assert lines[:3] == ["Wind Power Record Set", "2024-07-02", ""]
    assert "three hours" in found.text and "Home" not in found.text and "Copyright" not in found.text
    assert found.pages == () and found.title == "Wind Power Record Set"


def test_html_without_a_date_states_none():
    found = extract(".htm", html_page("Wind Power Record Set", ["Wind farms produced a record 40 gigawatts on "
                                                                 "a windy afternoon in the north."]).encode())
    assert found.text.startswith("Wind Power Record Set\n\nWind farms")


def test_html_with_no_main_text_is_refused():
    with pytest.raises(ExtractionError, match="no main text"):
        extract(".html", b"<html><head><title>Home</title></head><body><nav><a href='/'>Home</a> "
                         b"<a href='/news'>News</a></nav></body></html>")


def test_docx_paragraphs_and_headings_in_order():
    data = docx_bytes([("Title", "Energy digest"), ("Heading 1", "Wind Power Record Set"),
                       ("", "On July 1, 2024, wind farms produced a record."), ("Heading 1", "Solar Plant Opens"),
                       ("", "A solar plant opened in Golmud.")], title="Digest")
    found = extract(".docx", data)
    assert found.text == ("# Energy digest\n\n## Wind Power Record Set\n\nOn July 1, 2024, wind farms produced a "
                          "record.\n\n## Solar Plant Opens\n\nA solar plant opened in Golmud.\n")
    assert found.title == "Digest" and found.pages == ()


def test_corrupt_docx_and_unknown_format_are_refused():
    with pytest.raises(ExtractionError, match="Word"):
        extract(".docx", b"PK\x03\x04 not really a zip")
    with pytest.raises(ExtractionError, match="unsupported"):
        extract(".odt", b"x")


def test_extracted_text_is_written_once_and_read_back(tmp_path, monkeypatch):
    source = tmp_path / "grid.pdf"
    source.write_bytes(pdf_bytes([PAGE_ONE, PAGE_TWO]))
    found, text_path = extracted_text(source, source.read_bytes(), tmp_path / "extracted")
    assert text_path.read_bytes().decode("utf-8") == found.text
    monkeypatch.setattr("rag.ingest.extract.cache.extract", lambda *a: pytest.fail("extracted twice"))
    again, same_path = extracted_text(source, source.read_bytes(), tmp_path / "extracted")
    assert (again, same_path) == (found, text_path)
    changed = pdf_bytes([PAGE_TWO, PAGE_ONE])  # a changed source has a new file
    monkeypatch.undo()
    _, new_path = extracted_text(source, changed, tmp_path / "extracted")
    assert new_path != text_path
    assert prune(tmp_path / "extracted", {new_path}) == 2 and not text_path.exists() and new_path.exists()


def test_corpus_reads_every_format_and_skips_bad_files_with_a_reason(tmp_path, caplog):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "grid.pdf").write_bytes(pdf_bytes([PAGE_ONE, PAGE_TWO]))
    (folder / "wind.html").write_text(html_page("Wind Power Record Set", PAGE_ONE[1:] + PAGE_TWO, "2024-07-02"))
    (folder / "digest.docx").write_bytes(docx_bytes([("Heading 1", "Wind Power Record Set"), ("", PAGE_ONE[1])]))
    (folder / "notes.txt").write_text("Notes\n\nA plain text bulletin about the grid.\n")
    (folder / "locked.pdf").write_bytes(pdf_bytes([PAGE_ONE], password="secret"))
    (folder / "scan.pdf").write_bytes(scanned_pdf_bytes())
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    (folder / "big.pdf").write_bytes(pdf_bytes([PAGE_ONE]) + b"\n%" + b"x" * 60_000)
    (folder / "menu.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    with caplog.at_level(logging.WARNING, logger="rag.ingest.files"):
        files = read_corpus(folder, PROJECT_ROOT, max_bytes=50_000, extracted=tmp_path / "extracted")
    by_name = {f.path.name: f for f in files}
    assert set(by_name) == {"grid.pdf", "wind.html", "digest.docx", "notes.txt"}
    for f in files:  # the text that offsets slice is the text_source file, byte for byte
        assert f.text == (PROJECT_ROOT / Path(f.text_source)).read_bytes().decode("utf-8")
    assert by_name["notes.txt"].text_source == by_name["notes.txt"].source and by_name["notes.txt"].pages == ()
    assert by_name["grid.pdf"].single and by_name["wind.html"].single and not by_name["digest.docx"].single
    assert by_name["grid.pdf"].page_of(by_name["grid.pdf"].text.index("regional grid")) == 2
    warnings = {r.getMessage().split(":")[0].rsplit("/", 1)[-1]: r.getMessage() for r in caplog.records}
    assert set(warnings) == {"locked.pdf", "scan.pdf", "broken.pdf", "big.pdf", "menu.html"}
    assert "encrypted" in warnings["locked.pdf"] and "no text layer" in warnings["scan.pdf"]
    assert "corrupt" in warnings["broken.pdf"] and "limit" in warnings["big.pdf"]
    assert "no main text" in warnings["menu.html"]
    assert all("\n" not in message for message in warnings.values())


def test_without_an_extracted_folder_only_text_files_are_read(tmp_path):
    (tmp_path / "grid.pdf").write_bytes(pdf_bytes([PAGE_ONE]))
    (tmp_path / "notes.txt").write_text("Notes\n\nA plain text bulletin.\n")
    assert [f.path.name for f in read_corpus(tmp_path, tmp_path)] == ["notes.txt"]
