"""Copying the database out and back, per dialect.

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) in one step, which
reads one snapshot under a single read transaction: under WAL a serving node's writers
go on meanwhile and the copy is consistent. (Copying in several steps would restart
whenever a node writes between them.) PostgreSQL: ``pg_dump --format=custom`` (one
snapshot too) and ``pg_restore``. The password never goes on a command line: the client
tools get it as ``PGPASSWORD``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chat.backup.archive import BackupError
from chat.store.models import UTCDateTime

# Tables whose row counts tell the operator what a database holds.
COUNTED = {"users": "people", "messages": "messages", "attachments": "photos",
           "audit_events": "audit entries"}
BUSY_TIMEOUT_SECONDS = 30
NODE_PREFIX = "node:"        # chat.actions.nodes: each node's heartbeat in system_settings


@dataclass(frozen=True)
class Contents:
    """What a database holds: its tables and a few counts (None: no such table)."""

    tables: int
    counts: dict[str, int]
    revisions: list[str]
    # Nodes whose heartbeat (chat.actions.nodes) is recent: node id -> when, UTC.
    heartbeats: dict[str, datetime] = field(default_factory=dict)

    @property
    def holds_data(self) -> bool:
        """Anything worth refusing to overwrite (a freshly migrated schema holds none)."""
        return any(self.counts.values())

    def serving(self, now: datetime, within: timedelta) -> list[str]:
        """The nodes heard from within ``within`` of ``now``: probably serving still
        (a node stopping cleanly deletes its heartbeat)."""
        return sorted(node for node, seen in self.heartbeats.items() if now - seen < within)

    def summary(self) -> str:
        counted = ", ".join(f"{self.counts[t]:,} {label}" for t, label in COUNTED.items()
                            if t in self.counts)
        schema = f"schema {', '.join(self.revisions)}" if self.revisions else "no schema"
        return f"{counted or 'no Tsunagu tables'} ({self.tables} tables, {schema})"


def dialect_of(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def sqlite_file(database_url: str) -> Path:
    url = make_url(database_url)
    if url.database in {None, "", ":memory:"}:
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database).absolute()


async def contents(database_url: str) -> Contents | None:
    """What the database holds, or None when it does not exist (a SQLite file that is
    not there, a PostgreSQL database not created). Creates nothing."""
    if dialect_of(database_url) == "sqlite" and not sqlite_file(database_url).exists():
        return None
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_contents)
    except Exception as error:
        if _missing_database(error):
            return None
        raise BackupError(f"cannot open the database: {type(error).__name__}: "
                          f"{_first_line(error)}") from None
    finally:
        await engine.dispose()


def _contents(conn: Any) -> Contents:
    tables = set(sa.inspect(conn).get_table_names())
    counts = {table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
              for table in COUNTED if table in tables}
    revisions = ([str(r) for r in conn.execute(sa.text(
        "SELECT version_num FROM alembic_version")).scalars()]
        if "alembic_version" in tables else [])
    heartbeats = {}
    if "system_settings" in tables:
        settings = sa.table("system_settings", sa.column("key", sa.String()),
                            sa.column("updated_at", UTCDateTime()))
        heartbeats = {str(key).removeprefix(NODE_PREFIX): seen for key, seen in conn.execute(
            sa.select(settings.c.key, settings.c.updated_at).where(
                settings.c.key.startswith(NODE_PREFIX)))}
    return Contents(len(tables), counts, sorted(revisions), heartbeats)


def _missing_database(error: BaseException) -> bool:
    return type(error).__name__ == "InvalidCatalogNameError" or (
        error.__cause__ is not None and _missing_database(error.__cause__))


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


# --- SQLite ---------------------------------------------------------------------------

def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of the live database ``source`` into the new file ``target``."""
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)           # pages=-1: all of it in one step, one snapshot
        finally:
            dst.close()
    except sqlite3.Error as error:
        raise BackupError(f"copying the SQLite database {source} failed: {error}") from None
    finally:
        src.close()


def restore_sqlite(copy: Path, target: Path) -> None:
    """Put the checked ``copy`` in place of ``target``: written beside it, checked with
    ``PRAGMA integrity_check``, its old ``-wal``/``-shm`` removed (a stale log would be
    replayed into the new file), then renamed over it. Mode 0600."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = private_copy_beside(copy, target)
    problems = integrity_problems(temporary)
    if problems:
        temporary.unlink()
        raise BackupError(f"the restored SQLite file fails PRAGMA integrity_check: "
                          f"{problems[0]}")
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(temporary, target)


def private_copy_beside(source: Path, target: Path) -> Path:
    """``source`` copied to a hidden file beside ``target`` (mode 0600, on disk before
    this returns), for the caller to check and rename over ``target``: a restore never
    leaves a half-written file where a node would read it."""
    temporary = target.with_name(f".{target.name}.restoring")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as fh:
        shutil.copyfileobj(fh, out, 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())
    return temporary


def integrity_problems(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()
    return [] if rows == ["ok"] else rows


# --- PostgreSQL -----------------------------------------------------------------------

def client_tool(name: str) -> str:
    """The path of ``pg_dump`` / ``pg_restore``, or a :class:`BackupError` saying how to
    get it."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found on PATH: install the PostgreSQL client "
                          "(Debian: apt-get install postgresql-client), of the server's "
                          "major version or newer")
    return found


def connection_args(database_url: str, *, database: str | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    """The client tools' options and environment for ``database_url``
    (``postgresql+asyncpg://user:password@host:port/db``); the password only in the
    environment (``PGPASSWORD``), never in the arguments a process list shows."""
    url = make_url(database_url)
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
            "--username", url.username or "postgres", "--no-password",
            "--dbname", database or url.database or "postgres"]
    env = dict(os.environ)          # PGSSLROOTCERT, ~/.pgpass and the like still apply
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    ssl = url.query.get("sslmode") or url.query.get("ssl")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl, ssl)
    return args, env


async def _run(tool: str, args: list[str], env: dict[str, str]) -> str:
    """Run a client tool; its standard output, or a :class:`BackupError` with the first
    line it printed on error."""
    process = await asyncio.create_subprocess_exec(
        client_tool(tool), *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line]
        detail = lines[0] if lines else f"exit status {process.returncode}"
        raise BackupError(f"{tool} failed: {detail}")
    return stdout.decode(errors="replace")


async def dump_postgres(database_url: str, target: Path) -> dict[str, Any]:
    """``pg_dump --format=custom`` into ``target``; returns the database's encoding
    and locale, which a restore that must create the database uses again."""
    args, env = connection_args(database_url)
    described = await _database_settings(database_url)
    await _run("pg_dump", ["--format=custom", "--file", str(target), *args], env)
    return described


async def _database_settings(database_url: str) -> dict[str, Any]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype, "
                "current_setting('server_version') FROM pg_database "
                "WHERE datname = current_database()"))).one()
    except Exception as error:
        raise BackupError(f"cannot open the database: {type(error).__name__}: "
                          f"{_first_line(error)}") from None
    finally:
        await engine.dispose()
    return {"encoding": row[0], "collate": row[1], "ctype": row[2], "server_version": row[3]}


async def create_postgres_database(database_url: str, settings: dict[str, Any]) -> None:
    """Create the database ``database_url`` names (it does not exist), with the
    encoding and locale the backed-up one had. Needs the CREATEDB privilege."""
    url: URL = make_url(database_url)
    name = url.database or ""
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    quoted = '"' + name.replace('"', '""') + '"'
    locale = "".join(f" {option} '{str(settings[key]).replace(chr(39), '')}'"
                     for option, key in (("LC_COLLATE", "collate"), ("LC_CTYPE", "ctype"))
                     if settings.get(key))
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(
                f"CREATE DATABASE {quoted} TEMPLATE template0 ENCODING 'UTF8'{locale}"))
    except Exception as error:
        raise BackupError(f"cannot create the database {name}: {_first_line(error)} "
                          f"(create it yourself, empty, with createdb, and run restore "
                          "again)") from None
    finally:
        await admin.dispose()


async def restore_postgres(database_url: str, dump: Path) -> None:
    """``pg_restore --clean --if-exists --no-owner`` into the (existing) database, in
    one transaction: a restore that fails half-way leaves the database as it was."""
    args, env = connection_args(database_url)
    await _run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                              "--single-transaction", "--exit-on-error", *args, str(dump)],
               env)


async def tables_of_dump(dump: Path) -> set[tuple[str, str]]:
    """(schema, table) of every table in a custom-format dump (``pg_restore --list``)."""
    listing = await _run("pg_restore", ["--list", str(dump)], dict(os.environ))
    tables = set()
    for line in listing.splitlines():
        parts = line.split()
        # "214; 1259 123571 TABLE public messages owner"
        if not line.startswith(";") and len(parts) >= 6 and parts[3] == "TABLE":
            tables.add((parts[4], parts[5]))
    return tables


async def drop_tables_except(database_url: str, keep: set[tuple[str, str]]) -> list[str]:
    """Drop the tables ``keep`` does not name: what a newer schema had added to the
    database a restore replaced (``pg_restore --clean`` drops only the dump's own
    objects, and a later ``tsunagu migrate`` would stumble on them). Returns their names."""
    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                "('pg_catalog', 'information_schema')"))).all()
            extra = sorted((str(r[0]), str(r[1])) for r in rows
                           if (str(r[0]), str(r[1])) not in keep)
            for schema, table in extra:
                await conn.execute(sa.text(
                    f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE'))
    finally:
        await engine.dispose()
    return [f"{schema}.{table}" for schema, table in extra]
