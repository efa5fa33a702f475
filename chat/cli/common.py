"""What every `tsunagu` command shares: progress on stderr, an application context
beside the servers, one-line refusals."""


from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias, TypeVar

from sqlalchemy.engine import make_url

from chat.config import DEFAULT_VAR_DIR, Settings, default_sqlite_url
from chat.context import AppContext, open_context
from chat.domain.imports import CsvProblems
from chat.errors import ChatError
from chat.secrets import SECRETS_FILE
from chat.store.migrations import (
    SchemaFit,
    database_revisions,
    database_serves_from,
    schema_fit,
    script_heads,
)

T = TypeVar("T")
#: What ``register`` receives: the top-level subcommands of ``tsunagu``.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def progress(label: str) -> Callable[[int, int], None]:
    """Progress on stderr: a live line on a terminal, every 10% otherwise."""
    last = [-1]
    tty = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if tty:
            print(f"\r{label}: {done}/{total} ({pct}%)", end="", file=sys.stderr)
            if done == total:
                print(file=sys.stderr)
        elif pct // 10 != last[0] // 10 or done == total:
            print(f"{label}: {done}/{total} ({pct}%)", file=sys.stderr)
        last[0] = pct

    return report


@asynccontextmanager
async def offline_context(settings: Settings) -> AsyncIterator[AppContext]:
    """An AppContext for commands run beside (not inside) a server. The servers' clients
    see the changes live: on Redis through Redis, on the in-process default through the
    database's bus outbox, which every node relays within a second (chat.bus.outbox).
    :func:`chat.cli.main` has checked the instance exists (:func:`instance_problem`)."""
    async with open_context(settings) as ctx:
        yield ctx


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL, absolute; None for PostgreSQL or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in {None, "", ":memory:"}:
        return None
    return Path(url.database).absolute()


def instance_problem(settings: Settings) -> str | None:
    """Why the commands cannot run against this instance, in one paragraph naming the
    database and folder they resolved, or None when the database exists at this
    release's schema and the secrets file is there. Looks without creating anything
    (opening a missing SQLite file would create it)."""
    db_file = sqlite_path(settings.database_url)
    var_dir = settings.var_dir.absolute()
    url_source = ("CHAT_DATABASE_URL" if settings.database_url != default_sqlite_url(
        settings.var_dir) else "the default: tsunagu.db in CHAT_VAR_DIR")
    dir_source = ("CHAT_VAR_DIR" if settings.var_dir != DEFAULT_VAR_DIR else
                  f"the default: ./var in the current folder {Path.cwd()}")
    where = (f"the database {db_file or redact(settings.database_url)} ({url_source}) and "
             f"the data folder {var_dir} ({dir_source})")
    advice = ("Run the command from your instance's folder, or set CHAT_DATABASE_URL and "
              "CHAT_VAR_DIR to the ones your servers use; to create a new instance there, "
              "run `tsunagu migrate` first.")
    if db_file is not None and not db_file.exists():
        return f"no Tsunagu instance found: {where}; the database file does not exist. {advice}"
    try:
        current = asyncio.run(database_revisions(settings.database_url))
    except Exception as exc:
        return (f"cannot open {where}: {type(exc).__name__}: {exc}. Check CHAT_DATABASE_URL "
                "(and that the database server is running).")
    wanted = script_heads(settings.database_url)
    fit = schema_fit(settings.database_url, current,
                     asyncio.run(database_serves_from(settings.database_url))
                     if current and set(current) != set(wanted) else None)
    if fit is SchemaFit.EMPTY:
        return (f"the database is not a Tsunagu database yet (no schema): {where}. If this "
                "is the right database, run `tsunagu migrate`. " + advice)
    if fit is SchemaFit.OLDER:
        return (f"the database schema is at revision {', '.join(current)} but this "
                f"release needs {', '.join(wanted)}: {where}. Run `tsunagu migrate` "
                "(nodes of the running release may go on serving while it runs; "
                "docs/upgrade.md).")
    if fit is SchemaFit.NEWER_REFUSED:
        return (f"the database schema is at revision {', '.join(current)}, which this "
                f"release does not know (it needs {', '.join(wanted)}), and that "
                f"schema no longer serves this release: {where}. It was migrated by "
                "a newer Tsunagu: run that release's `tsunagu`.")
    # CURRENT, or NEWER_SERVED: a newer release only expanded the schema, and this one
    # may go on serving it during a rolling upgrade (docs/upgrade.md).
    if not (var_dir / SECRETS_FILE).exists():
        return (f"no instance secrets ({SECRETS_FILE}) in {var_dir}, beside {where}. "
                "Codes and sessions made without the servers' own file would be refused "
                f"by them: copy the servers' {SECRETS_FILE} (mode 0600) there, or set "
                "CHAT_VAR_DIR to the folder that holds it.")
    return None


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def run_offline(settings: Settings, job: Callable[[AppContext], Awaitable[T]]) -> T:
    async def main() -> T:
        async with offline_context(settings) as ctx:
            return await job(ctx)
    return asyncio.run(main())


def read_csv(path: Path) -> str | None:
    """A CSV as Excel saves it (UTF-8, a BOM is fine); None, said on stderr, if unreadable."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return None


def operator() -> str:
    """Who ran a command, for the audit log: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def refusal(error: ChatError) -> int:
    print(f"error: {error.message} ({error.code})", file=sys.stderr)
    return 1


def cell(text: str, width: int) -> str:
    """``text`` cut and padded to ``width`` terminal columns (full-width characters take
    two)."""
    out, used = "", 0
    for char in text:
        size = 2 if unicodedata.east_asian_width(char) in {"W", "F"} else 1
        if used + size > width:
            break
        out, used = out + char, used + size
    return out + " " * (width - used)


def import_report(settings: Settings, path: Path,
                   job: Callable[[AppContext], Awaitable[str]]) -> int:
    """Run an import; a file with problems imports nothing, and every problem is listed."""
    try:
        print(run_offline(settings, job))
    except CsvProblems as exc:
        print(f"{path}: nothing imported; fix these {len(exc.problems)} problems:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0
