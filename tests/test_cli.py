"""The rag command as a user runs it: real subprocesses, real index."""

import json
import subprocess
import sys

import pytest

from helpers import SEEDS

pytestmark = pytest.mark.slow


def rag(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-index")
    result = rag("index", "--seeds", str(SEEDS), "--index", str(folder))
    assert result.returncode == 0, result.stderr
    assert "built the index" in result.stderr and "5 bulletins" in result.stdout
    return folder


def test_ask_json_answers_with_citations(index_dir):
    result = rag("ask", "--json", "--index", str(index_dir),
                 "Who presided over the first meeting of the expert committee?")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "Zhang Yudong" in data["answer"] and data["span"] == "Zhang Yudong"
    assert data["citations"][0]["source"] == "seeds/china-carbon-neutrality-2023-03.txt"
    assert "built the index" not in result.stderr  # the index was reused


def test_ask_prints_numbered_citations_with_lines(index_dir):
    result = rag("ask", "--index", str(index_dir), "Where did the IPCC release its Synthesis Report?")
    assert result.returncode == 0
    assert "Interlaken" in result.stdout and "[1] IPCC Releases" in result.stdout
    assert "seeds/china-carbon-neutrality-2023-03.txt, line" in result.stdout


def test_ask_abstains_on_off_topic_question(index_dir):
    result = rag("ask", "--json", "--index", str(index_dir), "Who won the 2022 FIFA World Cup?")
    assert json.loads(result.stdout)["abstained"] is True


@pytest.mark.parametrize("args, message", [
    (["ask", "   "], "the question is empty"),
    (["ask", "--seeds", "/nonexistent/seeds", "hello?"], "seeds folder not found"),
    (["eval", "--squad-swapped"], "give --squad FILE"),
    (["eval", "--squad-antonym"], "give --squad FILE"),
])
def test_bad_input_is_one_line_and_nonzero(args, message):
    result = rag(*args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_folder_without_bulletins_is_a_clear_error(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    result = rag("ask", "--seeds", str(tmp_path), "--index", str(tmp_path / "idx"), "hello?")
    assert result.returncode == 2 and "no bulletins found" in result.stderr
    assert "Traceback" not in result.stderr


def test_citation_lines_name_the_page_and_the_text_file_of_an_extracted_source():
    from rag.cli import _where
    from rag.records import Citation

    pdf = Citation(1, "b", "T", "seeds/report.pdf", 0, 5, "Quote", "index/extracted/report-ab12.txt", 2)
    assert _where(pdf) == "seeds/report.pdf, page 2; text index/extracted/report-ab12.txt, "
    page = Citation(1, "b", "T", "seeds/page.html", 0, 5, "Quote", "index/extracted/page-cd34.txt", None)
    assert _where(page) == "seeds/page.html; text index/extracted/page-cd34.txt, "
    txt = Citation(1, "b", "T", "seeds/a.txt", 0, 5, "Quote", "seeds/a.txt", None)
    assert _where(txt) == "seeds/a.txt, "


def test_an_index_whose_records_no_longer_match_names_the_command_that_rebuilds_it():
    from rag.cli import _message
    from rag.errors import CorpusError, StaleRecordsError

    stale = StaleRecordsError("index records no longer match seeds/a.txt")
    assert _message(stale) == "index records no longer match seeds/a.txt: rebuild the index with `rag index --rebuild`"
    assert _message(CorpusError("no bulletins found")) == "no bulletins found"
