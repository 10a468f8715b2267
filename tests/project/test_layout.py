"""The test tree mirrors src/ (docs/TESTING.md): every test module sits in unit/<package>/ for a
package of src/gpt2zh (or unit/ for a top-level module), e2e/ or project/, and imports shared
code from `helpers`, never from another test module or conftest."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

TESTS = REPO / "tests"
PACKAGES = {p.parent.name for p in (REPO / "src" / "gpt2zh").glob("*/__init__.py")}


def all_test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def test_every_test_module_has_its_place() -> None:
    misplaced = []
    for path in all_test_modules():
        parts = path.relative_to(TESTS).parts
        if parts[0] in ("e2e", "project") and len(parts) == 2:
            continue
        if parts[0] == "unit" and (len(parts) == 2 or (len(parts) == 3 and parts[1] in PACKAGES)):
            continue
        misplaced.append(str(path.relative_to(REPO)))
    assert not misplaced, f"not under unit/<package>/, e2e/ or project/: {misplaced}"


def test_no_test_module_imports_another() -> None:
    found = []
    for path in all_test_modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0].startswith("test_") or name == "conftest":
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} imports {name}")
    assert not found, found
