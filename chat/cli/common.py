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

from chat.config import Settings
from chat.context import AppContext, open_context
from chat.domain.imports import CsvProblems
from chat.errors import ChatError
from chat.secrets import SECRETS_FILE

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
    """An AppContext for commands run beside (not inside) a server. With a Redis bus the
    servers' clients see the changes live; with the in-process default nobody listens,
    and each node finds them in the database: revocations within a second (the hub's
    sweep), membership changes within its reconcile interval."""
    if not (settings.var_dir / SECRETS_FILE).exists():
        print(f"warning: no instance secrets in {settings.var_dir}; creating new ones. "
              "Servers sharing this database must use the same file (CHAT_VAR_DIR).",
              file=sys.stderr)
    async with open_context(settings) as ctx:
        yield ctx


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
