"""The rules the test suite keeps about its own imports (tests/README.md), read from the
imports themselves: helpers come from ``tests/support/`` (or a folder's helper module),
never from another test module, so moving or deleting one test never breaks another; and
``tests.support`` itself loads no Playwright, so only the browser tests need it."""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def imported_modules(path: Path) -> Iterator[str]:
    """Every absolute module ``path`` imports; ``from tests.x import y`` yields both
    ``tests.x`` and ``tests.x.y`` (``y`` may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_test_module(module: str) -> bool:
    return module.startswith("tests.") and module.rpartition(".")[2].startswith("test_")


def test_no_module_under_tests_imports_a_test_module() -> None:
    offending = sorted(
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in set(imported_modules(path)) if is_test_module(module))
    assert offending == []


def test_the_support_package_loads_no_playwright() -> None:
    """In a fresh interpreter, as a non-browser test would import it."""
    check = ("import sys, tests.support; "
             "sys.exit('playwright' in sys.modules or 'tests.support.browser' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", check], cwd=TESTS.parent,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr or "tests.support loaded playwright"


def test_every_source_module_has_a_row_in_the_tests_readme() -> None:
    """tests/README.md maps modules to their tests; a module it does not name is one a
    newcomer cannot find the tests of."""
    readme = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Source modules and their tests", 1)[1]
    named: set[str] = set()
    for line in table.splitlines():
        if not line.startswith("| `") and not line.startswith("| the other"):
            continue
        source = line.split("|")[1]
        folder = ""
        for path in re.findall(r"`([\w/.*]+)`", source):
            if "/" in path:
                folder = path.rsplit("/", 1)[0]
                named.add(path)
            elif folder:
                named.add(f"{folder}/{path}")
    missing = []
    for module in sorted([*(ROOT / "chat").rglob("*.py"), *(ROOT / "admin").rglob("*.py")]):
        relative = module.relative_to(ROOT).as_posix()
        if module.name in {"__init__.py", "__main__.py"}:
            continue
        if not any(fnmatch.fnmatch(relative, pattern) for pattern in named):
            missing.append(relative)
    assert missing == []
