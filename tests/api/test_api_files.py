"""api/files.py over the real model: bulletins uploaded as PDF, HTML and Word files through
POST /bulletins (multipart, same key and limits as JSON), and originals served read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT

from helpers import AUTH, writable_client
from helpers_documents import FUJIAN_PAGES, docx_bytes, html_page, pdf_bytes, scanned_pdf_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    with writable_client(tmp_path_factory.mktemp("files"), embedder, max_body_bytes=200_000) as c:
        yield c


def _upload(client, name: str, data: bytes, headers=AUTH):
    return client.post("/bulletins", files={"file": (name, data)}, headers=headers)


def test_a_pdf_upload_answers_with_its_page_and_serves_the_original(client):
    data = pdf_bytes(FUJIAN_PAGES)
    response = _upload(client, "fujian-auction.pdf", data)
    assert response.status_code == 201, response.text
    bulletin = response.json()
    assert bulletin["title"] == "Offshore Wind Auction Held in Fujian" and bulletin["source"].endswith(".pdf")
    answer = client.post("/ask", json={"question": "Which company led the winning bids in the Fujian auction?",
                                       "bulletin_ids": [bulletin["id"]]}).json()
    assert "Three Gorges" in answer["answer"]
    (cited,) = [c for c in answer["citations"] if "Three Gorges" in c["quote"]]
    assert cited["page"] == 2 and cited["source"] == bulletin["source"] and cited["text_source"] != cited["source"]
    text = client.settings.path_of(cited["text_source"]).read_bytes().decode("utf-8")
    assert text[cited["char_start"]:cited["char_end"]] == cited["quote"]
    original = client.get(f"/bulletins/{bulletin['id']}/original")
    assert original.status_code == 200 and original.content == data
    assert original.headers["content-type"] == "application/pdf"
    assert original.headers["content-disposition"].startswith("inline")
    removed = client.delete(f"/bulletins/{bulletin['id']}", headers=AUTH)
    assert removed.status_code == 200
    assert not client.settings.path_of(cited["text_source"]).exists()  # its extracted text goes with it


def test_html_and_word_uploads(client):
    page = html_page("Hydrogen Pipeline Approved", ["On May 9, the pipeline from Ulanqab to Beijing was approved.",
                                                   "It will carry green hydrogen over 400 kilometres."], "2024-05-10")
    response = _upload(client, "pipeline.html", page.encode())
    assert response.status_code == 201, response.text
    assert response.json()["date"] == "2024-05-10" and response.json()["title"] == "Hydrogen Pipeline Approved"
    original = client.get(f"/bulletins/{response.json()['id']}/original")
    assert original.headers["content-type"].startswith("text/html")
    assert original.headers["content-security-policy"].startswith("sandbox")  # its scripts never run here
    data = docx_bytes([("Title", "Grid Storage Tender Opens"), ("", "Jiangsu opened a tender for 2 gigawatt-hours "
                                                                    "of battery storage on April 2, 2024.")])
    response = _upload(client, "storage.docx", data)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Grid Storage Tender Opens"
    assert client.get(f"/bulletins/{response.json()['id']}/original").headers["content-disposition"].startswith(
        "attachment")


@pytest.mark.parametrize("name, data, reason", [
    ("locked.pdf", pdf_bytes(FUJIAN_PAGES, password="pw"), "encrypted"),
    ("scan.pdf", scanned_pdf_bytes(), "no text layer"),
    ("broken.pdf", b"%PDF-1.7\n1 0 obj <<", "corrupt"),
    ("menu.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no main text"),
    ("notes.odt", b"PK\x03\x04", "unsupported"),
    ("empty.pdf", b"", "empty"),
])
def test_files_without_text_to_cite_are_refused_with_the_reason(client, name, data, reason):
    before = sorted(p.name for p in Path(client.settings.uploads).glob("*")) if client.settings.uploads.is_dir() else []
    response = _upload(client, name, data)
    assert response.status_code == (415 if reason == "unsupported" else 422)  # 415: a kind of file not read
    assert reason in response.json()["error"]
    assert "/" not in response.json()["error"]  # no server path in the message
    after = sorted(p.name for p in Path(client.settings.uploads).glob("*")) if client.settings.uploads.is_dir() else []
    assert after == before


def test_uploads_need_the_key_and_keep_the_size_limit(client):
    assert _upload(client, "a.pdf", pdf_bytes(FUJIAN_PAGES), headers={}).status_code == 401
    assert _upload(client, "a.pdf", pdf_bytes(FUJIAN_PAGES) + b"%" * 250_000).status_code == 413
    assert client.post("/bulletins", data={"title": "x"}, headers=AUTH).status_code == 422  # a form with no file


def test_originals_only_by_bulletin_id(client):
    assert client.get("/bulletins/nope/original").status_code == 404
    assert client.get("/bulletins/..%2F..%2Fetc%2Fpasswd/original").status_code == 404
    seed = client.get("/bulletins").json()[0]
    original = client.get(f"/bulletins/{seed['id']}/original")
    assert original.status_code == 200 and original.headers["content-type"].startswith("text/plain")
    assert original.content == (PROJECT_ROOT / "seeds" / "china-carbon-neutrality-2023-03.txt").read_bytes()


def test_openapi_documents_both_bodies(client):
    body = client.get("/openapi.json").json()["paths"]["/bulletins"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


def test_fuzzed_uploads_never_fail_the_server(client):
    """Any form the schema allows gets 201 or a 4xx with an error body, never a 500. (Schema-valid
    bytes are not always a bulletin: JSON Schema cannot say "a PDF with a text layer".)"""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from schemathesis.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    strategy = schema["/bulletins"]["POST"].as_strategy().filter(lambda case: case.media_type == "multipart/form-data")

    @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
               derandomize=True)
    @given(case=strategy)
    def check(case):
        case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])

    check()
