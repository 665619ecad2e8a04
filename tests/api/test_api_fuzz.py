"""Fuzz the API from its own OpenAPI schema (schemathesis): no 500s, every response matches the schema."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import positive_data_acceptance

from api.app import create_app
from rag.config import Settings
from rag.service.lifecycle import open_engine

from helpers import SEEDS

pytestmark = pytest.mark.slow
OPERATIONS = ["POST /ask", "POST /search", "POST /chat", "GET /bulletins", "GET /bulletins/{bulletin_id}",
              "POST /bulletins", "DELETE /bulletins/{bulletin_id}", "GET /healthz", "GET /readyz",
              "POST /v1/chat/completions", "GET /v1/models", "GET /v1/models/{model}"]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SEEDS, root / "seeds")
    settings = Settings(seeds=root / "seeds", index=root / "index", api_key="fuzz-key", rate_limit_per_minute=0)
    engine, _ = open_engine(settings, embedder)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, engine))


def test_schema_lists_every_operation(api_schema):
    found = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    assert set(OPERATIONS) <= found


@pytest.mark.parametrize("operation", OPERATIONS)
def test_operation_conforms_to_its_schema(api_schema, operation):
    method, path = operation.split(" ")
    strategy = api_schema[path][method].as_strategy()
    if operation == "POST /bulletins":  # it also takes a file as a form: tests/api/test_api_files.py fuzzes that
        strategy = strategy.filter(lambda case: case.media_type == "application/json")

    # /chat also needs at least one user turn, which JSON Schema cannot say: a conversation of
    # assistant turns only is valid by the schema and rightly refused with 422. /v1/chat/completions
    # likewise, and it answers a model other than its one with the protocol's 404 model_not_found.
    excluded = [positive_data_acceptance] if path in ("/chat", "/v1/chat/completions") else []

    # derandomize: CI sees the same cases every run; widen max_examples locally to search further
    @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None,
               derandomize=True)
    @given(case=strategy)
    def check(case):
        case.call_and_validate(headers={"Authorization": "Bearer fuzz-key"}, excluded_checks=excluded)

    check()
