"""The layers of chat/, read from the imports themselves (ast, not grep), so a new import
that points upwards fails here rather than as a cycle found later.

From the bottom: ``domain`` (pure rules) and ``bus``; ``store``; ``audit`` (recording
events); ``auth``; ``actions``; the ``hub``; ``web`` and ``app`` on top; ``backup``
(whole-instance backups) beside the CLI, above the actions; ``migrations`` (Alembic's)
on the store and the domain, imported by nothing. An import inside a function
or under ``TYPE_CHECKING`` counts too: it is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

CHAT = Path(__file__).resolve().parents[2] / "chat"

# package -> the packages it must never import.
FORBIDDEN = {
    "chat.domain": ("chat.store", "chat.actions", "chat.auth", "chat.audit", "chat.bus",
                    "chat.hub", "chat.web", "chat.context", "chat.app"),
    "chat.bus": ("chat.store", "chat.actions", "chat.auth", "chat.audit", "chat.hub",
                 "chat.web", "chat.context", "chat.app"),
    "chat.store": ("chat.actions", "chat.auth", "chat.audit", "chat.hub", "chat.web",
                   "chat.app"),
    "chat.audit": ("chat.actions", "chat.auth", "chat.hub", "chat.web", "chat.app"),
    "chat.auth": ("chat.actions", "chat.hub", "chat.web", "chat.app"),
    "chat.actions": ("chat.hub", "chat.web", "chat.app"),
    "chat.hub": ("chat.store", "chat.actions", "chat.auth", "chat.audit", "chat.web",
                 "chat.app"),
    # Backup and restore sit beside the CLI, above the actions; no node runs them.
    "chat.backup": ("chat.hub", "chat.web", "chat.app", "chat.cli"),
    # The Alembic migrations run on the store's models and the domain's rules (and read
    # the settings for the URL); Alembic loads them by path, nothing imports them.
    "chat.migrations": ("chat.actions", "chat.auth", "chat.audit", "chat.bus", "chat.hub",
                        "chat.web", "chat.context", "chat.app", "chat.backup", "chat.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(CHAT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, relative imports resolved; ``from chat import x``
    yields ``chat.x``."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imports_of(package: str) -> list[tuple[str, str]]:
    """(importing module, imported module) for every module of ``package``."""
    root = CHAT.parent.joinpath(*package.split("."))
    paths = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    return [(module_name(path), imported)
            for path in paths for imported in imported_modules(path)]


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_layer_above_it(package: str) -> None:
    upward = sorted({(importer, imported) for importer, imported in imports_of(package)
                     for above in FORBIDDEN[package] if within(imported, above)})
    assert upward == [], f"{package} imports from a layer above it: {upward}"


def test_auth_never_imports_actions() -> None:
    """The cycle issue 22 broke: actions use auth's sessions and principals, so auth
    records its audit events through ``chat.audit``, not ``chat.actions``."""
    assert not [pair for pair in imports_of("chat.auth") if within(pair[1], "chat.actions")]


def test_nothing_imports_the_migrations() -> None:
    """Alembic loads ``chat/migrations`` by path (``chat.store.migrations`` names the
    folder); a module that imported a migration would run it outside Alembic."""
    importers = sorted({importer for importer, imported in imports_of("chat")
                        if within(imported, "chat.migrations")
                        and not within(importer, "chat.migrations")})
    assert importers == []


def test_the_reader_sees_imports_of_every_form() -> None:
    """A scanner that saw nothing would pass every rule above."""
    actions = {imported for _, imported in imports_of("chat.actions")}
    assert "chat.auth.sessions" in actions          # from chat.auth.sessions import ...
    assert "chat.store.uow.unit_of_work" in actions
    hub = {imported for _, imported in imports_of("chat.hub")}
    assert "chat.bus.topics" in hub
    web = {imported for _, imported in imports_of("chat.web")}
    assert "chat.actions.messages" in web            # from chat.actions import messages
    assert "asyncio" in web                          # import asyncio
    migrations = {imported for _, imported in imports_of("chat.migrations")}
    assert "chat.store.models.Base" in migrations    # env.py
    assert "chat.domain.auditchain" in migrations    # versions/0003
