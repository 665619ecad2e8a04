"""The OpenAI-compatible endpoint with the real `openai` client, against a real uvicorn server on loopback."""

from __future__ import annotations

import re
import threading
import time

import httpx
import openai
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.openai_compat import MODEL_ID
from rag.config import PROJECT_ROOT
from rag.ingest.chunks import count_tokens

from helpers import COMMITTEE, FIFA, FOLLOW_UP, IPCC, free_port


@pytest.fixture(scope="module")
def base_url(engine, settings):
    """A real uvicorn server in a thread of this process, over the session's index."""
    app = create_app(settings.with_(rate_limit_per_minute=0), engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0)


def source_text(engine, source: str) -> str:
    return engine.files[source].text


def assert_citations_slice_back(engine, citations: list[dict]) -> None:
    assert citations
    for c in citations:
        assert source_text(engine, c["source"])[c["char_start"]:c["char_end"]] == c["quote"]


def test_models_lists_the_one_model(client):
    assert [m.id for m in client.models.list()] == [MODEL_ID]
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID


def test_a_cited_answer_with_the_real_client(client, engine):
    completion = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": IPCC}],
                                                temperature=0.2, max_tokens=500)  # ignored: nothing is sampled
    message = completion.choices[0].message
    assert message.role == "assistant" and completion.choices[0].finish_reason == "stop"
    assert "Interlaken" in message.content and "[1]" in message.content
    assert "\n\nSources:\n[1] " in message.content
    short = completion.model_extra["short_answer"]
    assert short and "Interlaken" in short, short
    assert message.content.startswith(f"Short answer: {short}\n\n")  # a chat shows the first line first
    citations = completion.model_extra["citations"]
    assert message.model_extra["citations"] == citations
    assert_citations_slice_back(engine, citations)
    for c in citations:
        assert f"[{c['n']}] {c['title']}" in message.content
    usage = completion.usage
    assert usage.prompt_tokens == count_tokens([IPCC])[0]
    assert usage.completion_tokens == count_tokens([message.content])[0]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_gives_the_same_content_in_chunks(client, engine):
    messages = [{"role": "user", "content": IPCC}]
    whole = client.chat.completions.create(model=MODEL_ID, messages=messages).choices[0].message.content
    stream = client.chat.completions.create(model=MODEL_ID, messages=messages, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finished] == ["stop"]
    assert_citations_slice_back(engine, finished[0].model_extra["citations"])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == count_tokens([whole])[0]


def test_the_stream_ends_with_done(base_url):
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": IPCC}], "stream": True}
    with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_a_follow_up_turn(client, engine):
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": COMMITTEE}]
    first = client.chat.completions.create(model=MODEL_ID, messages=messages)
    assert not first.model_extra["abstained"] and 0.0 < first.model_extra["confidence"] <= 1.0
    assert_citations_slice_back(engine, first.model_extra["citations"])
    messages += [{"role": "assistant", "content": first.choices[0].message.content},
                 {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]}]
    follow = client.chat.completions.create(model=MODEL_ID, messages=messages)
    assert "Zhang Yudong" in follow.choices[0].message.content
    assert "Committee" in follow.model_extra["searched_question"]
    assert_citations_slice_back(engine, follow.model_extra["citations"])


def test_an_abstention_is_an_ordinary_message(client):
    completion = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": FIFA}])
    message = completion.choices[0].message
    assert message.content.startswith("The bulletins don't say.")
    assert completion.model_extra["abstained"] is True and completion.model_extra["citations"] == []
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("extra, param", [
    ({"n": 2}, "n"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"logprobs": True}, "logprobs"),
])
def test_unsupported_parameters_are_refused_in_the_protocols_shape(client, extra, param):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": IPCC}], **extra)
    error = raised.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error" and param in error["message"]


def test_unknown_model_and_bad_messages(client, base_url):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": IPCC}])
    assert raised.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:,"}}]}])
    response = httpx.post(base_url + "/chat/completions", json={"model": MODEL_ID, "messages": []})
    assert response.status_code == 422
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    too_long = client.with_options(max_retries=0).chat.completions
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        too_long.create(model=MODEL_ID, messages=[{"role": "user", "content": "x" * 2001}])
    assert "limit is 2000" in raised.value.body["message"]


def test_same_limits_rate_limit_and_read_key(engine, settings):
    app = create_app(settings.with_(rate_limit_per_minute=2, read_key="r3ad", api_key="wr1te"), engine)
    with TestClient(app) as http:
        def client(key):
            return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=http, max_retries=0)

        with pytest.raises(openai.AuthenticationError) as raised:
            client("wrong").models.list()
        assert raised.value.body["type"] == "invalid_request_error" and "read key" in raised.value.body["message"]
        assert http.post("/ask", json={"question": IPCC}).status_code == 401  # every read endpoint (one token)
        assert http.get("/bulletins").status_code == 401
        assert http.get("/healthz").status_code == 200
        assert [m.id for m in client("wr1te").models.list()] == [MODEL_ID]  # the write key reads too
        ask = {"model": MODEL_ID, "messages": [{"role": "user", "content": IPCC}]}
        assert "Interlaken" in client("r3ad").chat.completions.create(**ask).choices[0].message.content
        with pytest.raises(openai.RateLimitError) as raised:
            client("r3ad").chat.completions.create(**ask)
        assert raised.value.body["code"] == "rate_limited"
        assert int(raised.value.response.headers["retry-after"]) >= 1
        huge = http.post("/v1/chat/completions", content=b"{" + b" " * 1_100_000 + b"}",
                         headers={"content-type": "application/json", "Authorization": "Bearer r3ad"})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"


def test_the_readmes_python_example_runs(base_url, capsys):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "openai" in block]
    exec(compile(example.replace("http://localhost:8000/v1", base_url), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "Interlaken" in printed and "\n\nSources:\n[1] " in printed
    assert re.search(r"^1 \S+ \d+ \d+$", printed, re.M)
