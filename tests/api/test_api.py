"""The real app over the real model and a real index of the seeds (TestClient, lifespan included)."""

from __future__ import annotations

import shutil
import threading

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.pages import SUGGESTIONS
from rag.config import Settings
from rag.index import build as indexing
from rag.service.lifecycle import open_engine

from helpers import COMMITTEE, IPCC, SEED_FILE, SEED_TITLES, SEEDS

SEED_TEXT = SEED_FILE.read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def client(engine, settings):
    app = create_app(settings.with_(cors_origins=("https://example.org",), rate_limit_per_minute=0), engine)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def writable(tmp_path, embedder):
    """An app over a private copy of the seeds and index, with an API key."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    settings = Settings(seeds=seeds, index=tmp_path / "index", api_key="s3cret", rate_limit_per_minute=0)
    engine, _ = open_engine(settings, embedder)
    with TestClient(create_app(settings, engine)) as c:
        c.settings = settings
        yield c


AUTH = {"Authorization": "Bearer s3cret"}


def test_the_starter_questions_are_answered_before_the_first_visitor(engine, settings):
    """The app that opens its own index asks the page's starter questions before it serves."""
    with TestClient(create_app(settings)) as c:  # no engine given: the lifespan opens one and warms it up
        replies = [c.post("/ask", json={"question": q}).json() for q in SUGGESTIONS]
        other = c.post("/ask", json={"question": COMMITTEE}).json()
    assert all("cache" in r["timings_ms"] for r in replies), [r["timings_ms"] for r in replies]
    assert "Interlaken" in replies[1]["answer"]
    assert "cache" not in other["timings_ms"]


def test_ask_returns_a_cited_answer(client):
    response = client.post("/ask", json={"question": IPCC})
    assert response.status_code == 200
    data = response.json()
    assert "Interlaken" in data["answer"] and not data["abstained"]
    for c in data["citations"]:
        assert SEED_TEXT[c["char_start"]:c["char_end"]] == c["quote"]
    assert response.headers["x-request-id"]


def test_ask_with_filters_and_modes(client):
    bulletins = client.get("/bulletins").json()
    quotas = next(b["id"] for b in bulletins if "Quotas" in b["title"])
    data = client.post("/ask", json={"question": IPCC, "bulletin_ids": [quotas], "mode": "dense", "top_k": 2}).json()
    assert {p["bulletin_id"] for p in data["passages"]} == {quotas}
    data = client.post("/ask", json={"question": IPCC, "date_from": "2023-03-10", "date_to": "2023-03-31"}).json()
    assert "Interlaken" in data["answer"]
    dates = {b["id"]: b["date"] for b in bulletins}  # the seed states no year: "--03-20" fits March 2023
    assert {dates[p["bulletin_id"]] for p in data["passages"]} <= {"--03-20", "--03-30"}


def test_ask_says_how_sure_the_model_is(client):
    answered = client.post("/ask", json={"question": IPCC}).json()
    refused = client.post("/ask", json={"question": "Who won the 2022 FIFA World Cup?"}).json()
    assert not answered["abstained"] and refused["abstained"]
    assert 0.0 <= refused["confidence"] < answered["confidence"] <= 1.0


def test_search_returns_ranked_passages(client):
    passages = client.post("/search", json={"question": IPCC, "top_k": 3}).json()
    assert 1 <= len(passages) <= 3 and passages[0]["title"].startswith("IPCC")
    assert passages == sorted(passages, key=lambda p: -p["score"])


def test_chat_resolves_a_follow_up(client):
    messages = [{"role": "user", "content": COMMITTEE}]
    first = client.post("/chat", json={"messages": messages}).json()
    assert "Liu Zhongmin" in first["answer"]
    messages += [{"role": "assistant", "content": first["answer"]},
                 {"role": "user", "content": "And who presided over it?"}]
    follow = client.post("/chat", json={"messages": messages}).json()
    assert follow["question"] == "And who presided over it?"
    assert "Committee" in follow["searched_question"]
    assert "Zhang Yudong" in follow["answer"]
    assert follow["citations"][0]["title"].startswith("The National carbon neutrality")


def test_bulletins_list_and_full_text(client):
    bulletins = client.get("/bulletins").json()
    assert [b["title"] for b in bulletins] == SEED_TITLES  # the real digest's five headlines
    one = client.get(f"/bulletins/{bulletins[1]['id']}").json()
    assert one["text"] == SEED_TEXT[one["char_start"]:one["char_end"]]
    assert one["title"] == bulletins[1]["title"] and one["date"] == "--03-05"  # "On the morning of March 5": no year stated


def test_health_ready_and_docs(client):
    assert client.get("/healthz").json() == {"ok": True}
    ready = client.get("/readyz").json()
    assert ready == {"ready": True, "bulletins": 5, "chunks": ready["chunks"], "model": "all-MiniLM-L6-v2"}
    schema = client.get("/openapi.json").json()
    assert {"/ask", "/search", "/chat", "/bulletins", "/bulletins/{bulletin_id}", "/healthz", "/readyz"} <= set(schema["paths"])


@pytest.mark.parametrize("body, status, fragment", [
    ({"question": ""}, 422, "empty"),
    ({"question": "   \n\t"}, 422, "empty"),
    ({"question": "x" * 2001}, 422, "limit is 2000"),
    ({"question": "hi", "mode": "fuzzy"}, 422, "mode"),
    ({"question": "hi", "top_k": 0}, 422, "top_k"),
    ({"question": "hi", "top_k": 51}, 422, "top_k"),
    ({"question": "hi", "date_from": "March 1"}, 422, "date_from"),
    ({"question": "hi", "bulletin_ids": ["no-such-bulletin"]}, 404, "unknown bulletin id"),
    ({"question": "hi", "surprise": 1}, 422, "surprise"),
    ({}, 422, "question"),
    ([1, 2], 422, ""),
])
def test_bad_questions_get_clear_4xx_json(client, body, status, fragment):
    response = client.post("/ask", json=body)
    assert response.status_code == status
    data = response.json()
    assert fragment in data["error"] and data["code"] and data["request_id"]


def test_malformed_json_and_huge_bodies(client):
    response = client.post("/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"
    response = client.post("/ask", content=b'{"question": "' + b"a" * 1_100_000 + b'"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]


def test_unknown_bulletin_and_route_are_404_json(client):
    assert client.get("/bulletins/../../etc/passwd").status_code == 404
    response = client.get("/bulletins/nope")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_chat_validation(client):
    assert client.post("/chat", json={"messages": []}).status_code == 422
    only_assistant = client.post("/chat", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert only_assistant.status_code == 422 and "no user question" in only_assistant.json()["error"]
    trailing = client.post("/chat", json={"messages": [{"role": "user", "content": IPCC},
                                                       {"role": "assistant", "content": "..."}]})
    assert "Interlaken" in trailing.json()["answer"]  # the last user message is answered
    assert client.post("/chat", json={"messages": [{"role": "robot", "content": "hi"}]}).status_code == 422


def test_cors_allows_only_configured_origins(client):
    allowed = client.options("/ask", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
    assert allowed.headers.get("access-control-allow-origin") == "https://example.org"
    denied = client.post("/ask", json={"question": IPCC}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers


def test_write_endpoints_need_the_key(client, writable):
    body = {"title": "T", "text": "Some text."}
    assert client.post("/bulletins", json=body).status_code == 403  # no key configured
    assert writable.post("/bulletins", json=body).status_code == 401
    assert writable.post("/bulletins", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert writable.delete("/bulletins/x", headers={"Authorization": "Bearer wrong"}).status_code == 401


NEW = {"title": "Gansu Opens a Hydrogen Valley",
       "text": "On May 6, 2024, Gansu province opened a green hydrogen valley in Jiuquan. "
               "The valley is run by the Jiuquan Clean Energy Company and will make 20,000 tonnes of hydrogen a year.",
       "source": "Test Wire"}
QUESTION = "Who runs the green hydrogen valley in Jiuquan?"


def test_add_ask_delete_and_restart(writable, embedder):
    before = [writable.post("/ask", json={"question": QUESTION}).json() for _ in range(2)]
    assert "cache" in before[1]["timings_ms"] and before[1]["answer"] == before[0]["answer"]  # asked again
    added = writable.post("/bulletins", json=NEW, headers=AUTH)
    assert added.status_code == 201, added.text
    bulletin = added.json()
    assert bulletin["title"] == NEW["title"] and bulletin["date"] == "2024-05-06"
    assert bulletin["source"].endswith(".txt")
    answer = writable.post("/ask", json={"question": QUESTION}).json()
    assert "Jiuquan Clean Energy Company" in answer["answer"] and "cache" not in answer["timings_ms"]
    assert answer["citations"][0]["bulletin_id"] == bulletin["id"]
    full = writable.get(f"/bulletins/{bulletin['id']}").json()
    assert NEW["text"] in full["text"]

    # a restart serves the acknowledged bulletin
    engine, report = open_engine(writable.settings, embedder)
    assert not report.rebuilt and bulletin["id"] in engine.bulletins

    seed_id = writable.get("/bulletins").json()[0]["id"]
    assert writable.delete(f"/bulletins/{seed_id}", headers=AUTH).status_code == 409
    assert writable.delete(f"/bulletins/{bulletin['id']}", headers=AUTH).status_code == 200
    assert writable.get(f"/bulletins/{bulletin['id']}").status_code == 404
    after = writable.post("/ask", json={"question": QUESTION}).json()
    assert all(c["bulletin_id"] != bulletin["id"] for c in after["citations"])
    assert writable.delete(f"/bulletins/{bulletin['id']}", headers=AUTH).status_code == 404


def test_bad_bulletins_are_refused(writable):
    assert writable.post("/bulletins", json={"title": " ", "text": "x"}, headers=AUTH).status_code == 422
    assert writable.post("/bulletins", json={"title": "T", "text": ""}, headers=AUTH).status_code == 422
    assert writable.post("/bulletins", json={"title": "T", "text": "x", "date": "soon"}, headers=AUTH).status_code == 422


def test_reads_continue_while_a_write_is_under_way(writable, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real_append = indexing.append  # an added bulletin is appended to the index

    def slow_append(*args, **kwargs):
        started.set()
        assert release.wait(60)
        return real_append(*args, **kwargs)

    monkeypatch.setattr(indexing, "append", slow_append)
    result = {}
    writer = threading.Thread(target=lambda: result.update(
        response=writable.post("/bulletins", json=NEW, headers=AUTH)))
    writer.start()
    assert started.wait(60)
    for _ in range(3):  # the write is blocked inside the build: reads are served meanwhile
        response = writable.post("/ask", json={"question": IPCC})
        assert response.status_code == 200 and "Interlaken" in response.json()["answer"]
    assert writer.is_alive()
    release.set()
    writer.join(60)
    assert result["response"].status_code == 201
    assert "Jiuquan" in writable.post("/ask", json={"question": QUESTION}).json()["answer"]


def test_rate_limit_answers_429_with_retry_after(engine, settings):
    with TestClient(create_app(settings.with_(rate_limit_per_minute=2), engine)) as c:
        codes = [c.post("/ask", json={"question": IPCC}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = c.post("/ask", json={"question": IPCC})
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["code"] == "rate_limited"
        assert c.get("/healthz").status_code == 200  # only the question endpoints are limited


def test_concurrent_requests_are_all_answered(client):
    from concurrent.futures import ThreadPoolExecutor

    questions = [IPCC, COMMITTEE] * 4
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda q: client.post("/ask", json={"question": q}).json()["answer"], questions))
    assert all(("Interlaken" in a) if q == IPCC else ("Liu Zhongmin" in a) for q, a in zip(questions, answers))


@pytest.mark.parametrize("body", [
    b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deeply nested
    b'{"question": "\xff\xfe invalid utf-8"}',
    b'{"question": "a", "question": ',
    b"\x00\x01\x02",
])
def test_hostile_bodies_get_4xx_json(client, body):
    response = client.post("/ask", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]


def test_control_characters_and_markup_in_questions_are_just_text(client):
    question = "<script>alert(1)</script> Where did the IPCC \x07release\x00 its Synthesis Report?"
    response = client.post("/ask", json={"question": question})
    assert response.status_code == 200
    assert response.json()["question"] == question  # echoed as data; the widget renders it as text


@pytest.mark.parametrize("path", ["/bulletins/..%2F..%2Fetc%2Fpasswd", "/bulletins/%2e%2e", "/bulletins/seeds%2Fchina-carbon-neutrality-2023-03.txt",
                                  "/bulletins/" + "a" * 5000])
def test_path_traversal_in_bulletin_ids_is_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "etc/passwd" not in response.text and "/work" not in response.text
