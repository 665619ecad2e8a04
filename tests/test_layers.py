"""Imports point one way: the faces (api, eval, bench) import rag, and rag imports no face but in
rag/cli.py, the composition root, and there only inside the subcommand that needs it."""

import ast
import re

import pytest

from rag.config import PROJECT_ROOT

FACES = {"api", "eval", "bench"}
RAG = PROJECT_ROOT / "rag"


def face_imports(path, source: str | None = None) -> list[tuple[int, str, bool]]:
    """(line, module, at module level) of every import of a face in the module at ``path`` (its
    text, or ``source``)."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source, filename=str(path))
    depth = len(path.relative_to(PROJECT_ROOT).parts) - 1  # how many packages deep the module sits
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        elif isinstance(node, ast.ImportFrom) and node.level > depth:  # relative, out of rag/
            modules = [(node.module or "").split(".")[0] or "?"]
        else:
            continue
        found += [(node.lineno, m, id(node) in top_level) for m in modules if m.split(".")[0] in FACES | {"?"}]
    return found


MODULES = sorted(RAG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PROJECT_ROOT)) for p in MODULES])
def test_no_module_of_rag_but_the_cli_imports_a_face(path):
    found = face_imports(path)
    if path == RAG / "cli.py":
        assert not [f for f in found if f[2]], "rag/cli.py imports faces only inside the subcommand needing them"
    else:
        assert found == [], f"{path.relative_to(PROJECT_ROOT)} imports a face: {found}"


def test_the_cli_does_import_the_faces_it_runs():
    assert {m.split(".")[0] for _, m, _ in face_imports(RAG / "cli.py")} == {"api", "eval"}


def test_the_check_sees_a_face_imported_at_module_level_and_inside_a_function():
    source = "import api.app\nfrom . import store\n\ndef f():\n    from eval.run import run\n    from ..bench import x\n"
    found = face_imports(RAG / "probe.py", source)
    assert [(m, top) for _, m, top in found] == [("api.app", True), ("eval.run", False), ("bench", False)]


COMMAND = re.compile(r"\brag (ask|index|serve|eval)\b|\b(GET|POST|DELETE) /")


def raised_messages(path) -> list[str]:
    """The string parts of every exception message raised in the module at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for raised in ast.walk(tree) if isinstance(raised, ast.Raise) and raised.exc is not None
            for node in ast.walk(raised.exc) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PROJECT_ROOT)) for p in MODULES])
def test_core_errors_say_what_is_wrong_not_which_command_to_run(path):
    if path != RAG / "cli.py":
        assert [m for m in raised_messages(path) if COMMAND.search(m)] == []
