"""Run Alembic migrations from code (`tsunagu migrate`, tests, `make run`)."""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import delete, insert, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

#: The migrations (``env.py``, ``script.py.mako``, ``versions/``): a folder of the
#: ``chat`` package, so a wheel install has them too.
SCRIPT_LOCATION = Path(__file__).resolve().parents[1] / "migrations"

# Objects that live outside the ORM models because they are dialect-specific (the search
# indexes, chat/store/search.py): SQLite's FTS5 tables (and their shadow tables) and
# the grams helper table and the notes of messages not indexed yet; PostgreSQL's
# pg_trgm and grams GIN indexes.
UNMODELLED_PREFIXES = ("messages_fts", "messages_grams", "message_revisions_grams",
                       "search_gram_positions", "messages_unindexed")
UNMODELLED_INDEXES = {"ix_messages_body_trgm", "ix_message_revisions_body_trgm",
                      "ix_messages_body_grams", "ix_message_revisions_body_grams",
                      # Since alembic 0021, on the folded text instead.
                      "ix_messages_search_trgm", "ix_message_revisions_search_trgm",
                      "ix_messages_search_grams", "ix_message_revisions_search_grams"}
# Kept by PostgreSQL's triggers alone, for its partial search indexes (alembic 0011).
UNMODELLED_COLUMNS = {("message_revisions", "superseded")}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Autogenerate filter: ignore the dialect-specific search objects."""
    if type_ == "table" and name and name.startswith(UNMODELLED_PREFIXES):
        return False
    if type_ == "index" and name in UNMODELLED_INDEXES:
        return False
    if type_ == "column" and (getattr(obj.table, "name", None), name) in UNMODELLED_COLUMNS:
        return False
    return True


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration, built in code: no ``alembic.ini`` is read (an installed
    Tsunagu has none), and the URL goes to env.py as an attribute (never into a file)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate synchronously (Alembic's env.py runs its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)


def script_heads(database_url: str) -> tuple[str, ...]:
    """The revisions this release's migrations end at (one, unless branched)."""
    return tuple(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def known_revision(database_url: str, revision: str) -> bool:
    """Whether ``revision`` is one of this release's migrations (an unknown one: the
    database was migrated by a newer release)."""
    try:
        return ScriptDirectory.from_config(
            alembic_config(database_url)).get_revision(revision) is not None
    except CommandError:
        return False


async def database_revisions(database_url: str) -> tuple[str, ...]:
    """The revisions the database is at: empty for a database never migrated. Connects
    (a SQLite file that does not exist would be created: check first)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            heads = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads())
    finally:
        await engine.dispose()
    return tuple(heads)


# --- rolling upgrades (docs/upgrade.md) ---------------------------------------------------

#: The ``system_settings`` key where every migration run records the oldest schema
#: revision whose release can still serve the database as it now is.
SERVES_FROM_KEY = "schema.serves_from"


def serves_from(chain: Sequence[tuple[str, bool]]) -> str | None:
    """The oldest revision whose release can serve a database at the end of ``chain``
    ((revision, expand_only) pairs, oldest first): walk back from the head over the
    migrations that only expanded the schema (added tables, nullable columns, indexes),
    which the release before each of them never notices. A contracting migration (a
    column dropped, renamed, made NOT NULL) stops the walk: releases before it break."""
    oldest = None
    for revision, expand_only in reversed(chain):
        oldest = revision
        if not expand_only:
            break
    return oldest


def migration_chain(script: ScriptDirectory, head: str) -> list[tuple[str, bool]]:
    """(revision, expand_only) from the first migration to ``head``; a migration module
    says ``expand_only = True`` to promise that the previous release runs on it.
    Migrations that say nothing count as contracting (every one before 0021)."""
    chain = []
    for rev in script.walk_revisions(base="base", head=head):
        chain.append((rev.revision, bool(getattr(rev.module, "expand_only", False))))
    return list(reversed(chain))


def record_serves_from(connection: Connection, script: ScriptDirectory) -> None:
    """Write :data:`SERVES_FROM_KEY` after a migration run (chat/migrations/env.py, in the
    migration's own transaction), so that a release older than the schema can tell
    whether it may still serve it (``instance_problem``)."""
    heads = MigrationContext.configure(connection).get_current_heads()
    if len(heads) != 1 or not inspect(connection).has_table("system_settings"):
        return
    oldest = serves_from(migration_chain(script, heads[0]))
    from chat.store.models import SystemSetting

    connection.execute(delete(SystemSetting).where(SystemSetting.key == SERVES_FROM_KEY))
    connection.execute(insert(SystemSetting).values(
        key=SERVES_FROM_KEY, value=json.dumps(oldest), updated_at=datetime.now(UTC),
        updated_by="tsunagu migrate"))


async def database_serves_from(database_url: str) -> str | None:
    """What the last migration run recorded under :data:`SERVES_FROM_KEY` (None when
    it recorded nothing: a database migrated before rolling upgrades existed)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await read_serves_from(conn)
    finally:
        await engine.dispose()


async def read_serves_from(conn: AsyncConnection) -> str | None:
    """:data:`SERVES_FROM_KEY` as read on ``conn``."""
    value = (await conn.execute(text("SELECT value FROM system_settings WHERE key = :key"),
                                {"key": SERVES_FROM_KEY})).scalar()
    return json.loads(value) if value else None


class SchemaFit(enum.Enum):
    """How a database's schema stands to this release (what a node or a command may do)."""

    EMPTY = "empty"                  # never migrated: `tsunagu migrate` creates it
    CURRENT = "current"              # at this release's head
    OLDER = "older"                  # behind: `tsunagu migrate` first
    NEWER_SERVED = "newer_served"    # a newer release only expanded it: serve on
    NEWER_REFUSED = "newer_refused"  # a newer release contracted it: run that release

    @property
    def serves(self) -> bool:
        return self in (SchemaFit.CURRENT, SchemaFit.NEWER_SERVED)


def schema_fit(database_url: str, current: Sequence[str], serves_from: str | None
               ) -> SchemaFit:
    """Judge ``current`` (the database's revisions) and its recorded ``serves_from``
    against this release's migrations (read from disk: call it off the event loop)."""
    if not current:
        return SchemaFit.EMPTY
    if set(current) == set(script_heads(database_url)):
        return SchemaFit.CURRENT
    if all(known_revision(database_url, rev) for rev in current):
        return SchemaFit.OLDER
    if serves_from is not None and known_revision(database_url, serves_from):
        return SchemaFit.NEWER_SERVED
    return SchemaFit.NEWER_REFUSED
