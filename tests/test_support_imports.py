"""Tests share helpers through tests/support only (issue #19): a test module that imports from
conftest or from another test module couples tests to each other's internals (and imports a
module's fixtures twice). Checked over tests/ and bench/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def _forbidden(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1] == "conftest" or parts[-1].startswith("test_"))


def test_no_test_imports_from_conftest_or_another_test_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for folder in ("tests", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for module in _imported(ast.parse(path.read_text()))
        if _forbidden(module)
    ]
    assert offenders == [], "move what is shared into tests/support:\n" + "\n".join(offenders)


def test_the_check_sees_such_an_import() -> None:
    tree = ast.parse("from tests.conftest import live_server\nimport tests.board.test_fanout\n")
    assert [m for m in _imported(tree) if _forbidden(m)] == [
        "tests.conftest",
        "tests.board.test_fanout",
    ]
