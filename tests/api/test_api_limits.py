"""Findings of the outside attack run (issue 14) at the HTTP edge: text that cannot be encoded,
strict types that agree with the schema, limits on every path, no server paths in any body."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings
from rag.errors import QueryError
from rag.service.lifecycle import open_engine

from helpers import AUTH, SEEDS, writable_client

SURROGATE = b'{"question":"IPCC \\ud800"}'


@pytest.fixture(scope="module")
def app_client(tmp_path_factory, embedder):
    """A writable app over a private copy of the seeds, kept outside the project folder."""
    with writable_client(tmp_path_factory.mktemp("limits"), embedder, max_body_bytes=10_000) as c:
        yield c


def post_raw(client, path, body: bytes, headers=None):
    return client.post(path, content=body, headers={"content-type": "application/json", **(headers or {})})


@pytest.mark.parametrize("path, body", [
    ("/ask", SURROGATE),
    ("/search", SURROGATE),
    ("/search", b'{"question":"IPCC \\ud800", "mode": "dense"}'),
    ("/ask", b'{"question":"IPCC", "bulletin_ids": ["\\udfff"]}'),
    ("/chat", b'{"messages":[{"role":"user","content":"IPCC \\ud800"}]}'),
    ("/bulletins", b'{"title":"T \\ud800","text":"On May 1, 2024, a thing happened."}'),
    ("/bulletins", b'{"title":"T","text":"On May 1, 2024.","source":"\\udc80"}'),
])
def test_text_that_cannot_be_encoded_is_422_on_every_endpoint(app_client, path, body):
    response = post_raw(app_client, path, body, AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"  # pydantic may say so first, in its words


def test_the_core_never_passes_a_lone_surrogate_to_the_tokenizer(app_client):
    engine = app_client.app.state.live.engine
    for mode in ("hybrid", "dense", "bm25"):
        with pytest.raises(QueryError, match="cannot be encoded"):
            engine.ask("IPCC \ud800", mode=mode)
    with pytest.raises(QueryError, match="cannot be encoded"):
        app_client.app.state.live.add("Title", "Text \udfff here.")


@pytest.mark.parametrize("extra", [{"top_k": True}, {"top_k": "5"}, {"top_k": 23.5}, {"date_from": 20240101},
                                   {"date_to": "20240101"}, {"date_from": "2024-02-30"}, {"mode": 1},
                                   {"bulletin_ids": "abc"}])
def test_types_the_schema_forbids_are_refused(app_client, extra):
    response = app_client.post("/ask", json={"question": "Who leads the committee?", **extra})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("question", ["\x1e", "\x1c\x1d", "\x85", "?"])
def test_what_the_schema_allows_is_answered(app_client, question):
    response = app_client.post("/ask", json={"question": question})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("question", [" \t\n", "\ufeff", "\u3000 \u2028"])
def test_blank_questions_are_refused_as_the_schema_says(app_client, question):
    assert app_client.post("/ask", json={"question": question}).status_code == 422


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/ask", "POST"), ("GET", "/ask", "POST"), ("PUT", "/bulletins", "GET, POST"),
    ("POST", "/bulletins/x", "DELETE, GET"), ("DELETE", "/healthz", "GET"), ("PUT", "/openapi.json", "GET, HEAD")])
def test_method_not_allowed_names_the_methods_of_that_path(app_client, method, path, allowed):
    response = app_client.request(method, path, headers=AUTH)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["code"] == "method_not_allowed"


def test_over_limit_body_is_413_however_it_is_sent(app_client):
    big = b'{"question":"' + b"a" * 20_000 + b'"}'

    def chunks():  # no Content-Length: httpx sends it with chunked transfer encoding
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    chunked = app_client.post("/ask", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and chunked.json()["code"] == "body_too_large"
    assert post_raw(app_client, "/ask", big).status_code == 413
    small = app_client.post("/ask", content=iter([b'{"question":', b'"Who leads the committee?"}']),
                            headers={"content-type": "application/json"})
    assert small.status_code == 200  # a chunked body under the limit still reaches the app whole


def test_too_many_headers_is_431(app_client):
    headers = {f"x-h{i}": "1" for i in range(120)}
    assert app_client.get("/healthz", headers=headers).status_code == 431


def test_no_server_path_in_any_response(app_client):
    root = str(app_client.root)
    added = app_client.post("/bulletins", headers=AUTH, json={
        "title": "Ningbo Opens a Hydrogen Station", "text": "On June 3, 2024, Ningbo opened a hydrogen station."})
    assert added.status_code == 201 and added.json()["source"].startswith("uploads/")
    listed = app_client.get("/bulletins")
    sources = {b["source"] for b in listed.json()}
    assert all(s.startswith(("seeds/", "uploads/")) for s in sources), sources
    seed = next(b["id"] for b in listed.json() if b["source"].startswith("seeds/"))
    refused = app_client.delete(f"/bulletins/{seed}", headers=AUTH)
    assert refused.status_code == 409
    answer = app_client.post("/ask", json={"question": "Where did Ningbo open a hydrogen station?"})
    for response in (added, listed, refused, answer, app_client.get(f"/bulletins/{seed}")):
        assert root not in response.text and "/tmp" not in response.text
    assert app_client.delete(f"/bulletins/{added.json()['id']}", headers=AUTH).status_code == 200


def test_stale_temporary_files_are_removed_at_start_up(tmp_path, embedder):
    shutil.copytree(SEEDS, tmp_path / "seeds")
    settings = Settings(seeds=tmp_path / "seeds", index=tmp_path / "index")
    engine, _ = open_engine(settings, embedder)
    settings.uploads.mkdir(parents=True, exist_ok=True)
    orphan = settings.uploads / ".added-3f2a.txt.k2j4h1.tmp"
    orphan.write_text("half a bulletin")
    kept = settings.uploads / "kept.txt"
    kept.write_text("Kept\n\nOn May 1, 2024, a bulletin was kept.\n")
    create_app(settings, engine)
    assert not orphan.exists() and kept.exists()


def test_a_whole_number_written_as_a_float_is_an_integer_as_json_schema_says(app_client):
    response = app_client.post("/ask", json={"question": "Who leads the committee?", "top_k": 3.0})
    assert response.status_code == 200 and len(response.json()["passages"]) <= 3


def test_the_schema_says_a_conversation_needs_a_user_turn_and_top_k_its_range(app_client):
    schemas = app_client.get("/openapi.json").json()["components"]["schemas"]
    assert {"minimum": 1, "maximum": 50, "type": "integer"} in schemas["AskRequest"]["properties"]["top_k"]["anyOf"]
    schema = schemas["ChatRequest"]
    assert schema["properties"]["messages"]["contains"]["properties"]["role"] == {"const": "user"}
    only_assistant = {"messages": [{"role": "assistant", "content": "Hello"}]}
    assert app_client.post("/chat", json=only_assistant).status_code == 422


def test_the_limits_in_force_are_the_settings_in_the_schema_and_at_the_door(app_client, embedder):
    tight = app_client.app.state.settings.with_(max_question_chars=40, max_top_k=7, max_messages=2,
                                                max_title_chars=20)
    engine, _ = open_engine(tight, embedder)
    with TestClient(create_app(tight, engine)) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert schemas["AskRequest"]["properties"]["question"]["maxLength"] == 40
        assert {"minimum": 1, "maximum": 7, "type": "integer"} in schemas["AskRequest"]["properties"]["top_k"]["anyOf"]
        assert schemas["ChatRequest"]["properties"]["messages"]["maxItems"] == 2
        assert schemas["CompletionRequest"]["properties"]["messages"]["maxItems"] == 2
        assert schemas["NewBulletin"]["properties"]["title"]["maxLength"] == 20
        ok = {"question": "Who leads the committee?"}
        assert client.post("/ask", json={**ok, "top_k": 7}).status_code == 200
        assert client.post("/ask", json={**ok, "top_k": 8}).status_code == 422
        too_long = client.post("/ask", json={"question": "Who leads the committee? " * 2})
        assert too_long.status_code == 422 and "the limit is 40" in too_long.json()["error"]
        turns = [{"role": "user", "content": "Who leads the committee?"}] * 3
        assert client.post("/chat", json={"messages": turns}).status_code == 422
        assert client.post("/v1/chat/completions", json={"model": "bulletin-rag", "messages": turns}).status_code == 422
