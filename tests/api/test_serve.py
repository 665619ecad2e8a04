"""The README's own commands against a real `rag serve` process on loopback (docs that run)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from rag.config import PROJECT_ROOT
from rag.text import normalize

from helpers import rag_serve

pytestmark = pytest.mark.slow

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with rag_serve("--index", str(tmp_path_factory.mktemp("serve-index")), cwd=PROJECT_ROOT) as port:
        yield port


def readme_commands(prefix: str) -> list[str]:
    """Commands shown in the README's code blocks that start with ``prefix``."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, re.S)
    lines = [line.removeprefix("$ ") for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def test_readme_curl_examples_answer(server):
    commands = readme_commands("curl ")
    assert commands, "the README shows no curl example"
    for command in commands:
        command = command.replace("localhost:8000", f"127.0.0.1:{server}")
        output = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60).stdout
        if output.lstrip().lower().startswith("<!doctype html>"):  # the page, rendered on the server
            assert "Interlaken" in output and 'class="cite" href="./?q=' in output, output[:300]
            continue
        data = json.loads(output)
        if "ask" in command:
            assert "Interlaken" in data["answer"] and data["citations"], output


def test_readme_rag_ask_example_prints_what_it_shows(server):
    (example,) = re.findall(r"\$ (\.venv/bin/rag ask [^\n]*)\n(.*?)```", README, re.S)
    command, shown = example
    args = shlex.split(command)[1:]
    result = subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                            timeout=300, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    printed = normalize(result.stdout)
    for line in shown.strip().splitlines():
        assert normalize(line) in printed, line
