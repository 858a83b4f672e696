"""The packages' import arrows run one way, and only the command line draws on the terminal.

``images`` ← ``checks`` ← ``reports`` ← ``harness``: a lower package never imports a higher one
(at module level or inside a function), so the pure packages can be used, tested and reasoned
about without the harness. Terminal output (``harness.console``, rich's live displays) belongs to
``harness/cli``; everything below it reports through return values, events and notes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ORDER = ["images", "checks", "reports", "harness"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", ORDER[:-1])
def test_lower_packages_never_import_higher_ones(package: str) -> None:
    higher = ORDER[ORDER.index(package) + 1 :]
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] in higher
    ]
    assert not wrong, "\n".join(wrong)


def test_only_the_command_line_draws_on_the_terminal() -> None:
    drawing = {"harness.console", "rich.live", "rich.progress"}
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for package in ORDER
        for path in _modules(package)
        if not path.is_relative_to(REPO / "harness" / "cli") and path.name != "console.py"
        for name in _imports(path)
        if name in drawing
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_detects_an_upward_import(tmp_path: Path) -> None:
    """The scan sees imports inside functions too (a check that cannot fail proves nothing)."""
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from harness.errors import InputError\n    return 1\n")
    assert "harness.errors" in _imports(sample)
