from rag.config import PROJECT_ROOT
from rag.ingest.files import read_corpus

from helpers import SEEDS


def test_read_corpus_reports_sources_relative_to_the_project():
    (f,) = read_corpus(SEEDS, PROJECT_ROOT)
    assert f.source == "seeds/china-carbon-neutrality-2023-03.txt"
    assert f.text == f.path.read_bytes().decode("utf-8")  # byte for byte: no newline translation
