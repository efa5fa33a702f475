"""The ``tsunagu`` command. Each subcommand says what it did."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from chat.bus import open_bus
from chat.config import Settings, SettingsError
from chat.context import AppContext
from chat.domain.imports import CsvProblems, parse_departments, parse_staff
from chat.secrets import InstanceSecrets
from chat.store.db import Database
from chat.store.migrations import upgrade
from chat.store.uow import unit_of_work
from chat.types import SystemClock

T = TypeVar("T")


def _progress(label: str) -> Callable[[int, int], None]:
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
async def _offline_context(settings: Settings) -> AsyncIterator[AppContext]:
    """An AppContext for commands run beside (not inside) a server. With a Redis bus the
    servers' clients see the changes live; with the in-process default nobody listens,
    and connected clients pick the changes up when they reconnect."""
    db = Database(settings.database_url)
    bus = open_bus(settings.bus_url)
    await bus.start()
    try:
        yield AppContext(settings=settings, db=db, bus=bus, clock=SystemClock(),
                         secrets=InstanceSecrets.load_or_create(settings.var_dir))
    finally:
        await bus.close()
        await db.dispose()


def _run(settings: Settings, job: Callable[[AppContext], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _offline_context(settings) as ctx:
            return await job(ctx)
    return asyncio.run(main())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print(f"database migrated to the latest schema ({_redact(settings.database_url)})")
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from chat.demo import seed_demo

    async def job(ctx: AppContext) -> str:
        async with unit_of_work(ctx.db, write=False) as uow:
            if await uow.users.count() > 0:
                return "database already has users: demo not seeded"
        depts, staff = await seed_demo(ctx)
        return (f"demo city seeded: {depts.created} departments, {staff.created} staff, "
                f"{depts.channels_created} channels")

    print(_run(settings, job))
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.orgchart import import_departments, import_staff

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2

    async def job(ctx: AppContext) -> str:
        if args.what == "departments":
            rows = parse_departments(text)
            report = await import_departments(ctx, rows, progress=_progress("departments"))
        else:
            async with unit_of_work(ctx.db, write=False) as uow:
                codes = {d.code for d in await uow.departments.all()}
            staff_rows = parse_staff(text, known_departments=codes)
            report = await import_staff(ctx, staff_rows, progress=_progress("staff"))
        return f"{args.what} imported from {path}: {report.summary()}"

    try:
        print(_run(settings, job))
    except CsvProblems as exc:
        print(f"{path}: nothing imported; fix these {len(exc.problems)} problems:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from chat.app import create_app

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if args.dev_sessions:
        overrides["dev_sessions"] = True
    settings = settings.with_overrides(**overrides)
    if settings.dev_sessions and not settings.dev_sessions_allowed:
        print("refusing to start: dev sessions need a loopback bind", file=sys.stderr)
        return 2
    for line in _banner(settings):
        print(line)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                ws="websockets-sansio", ws_max_size=settings.transport_max_bytes,
                ws_per_message_deflate=False, log_level="info", proxy_headers=False)
    return 0


def _banner(settings: Settings) -> Iterator[str]:
    host = "localhost" if settings.host in {"127.0.0.1", "::1"} else settings.host
    yield f"Tsunagu is serving on http://{host}:{settings.port}"
    if settings.dev_sessions_allowed:
        yield ("DEMO MODE (loopback only): open the page and pick a demo person to sign in "
               "as; real device enrollment is not required here.")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsunagu", description="Tsunagu (つなぐ): secure business chat for city halls")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="bind address (default CHAT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default CHAT_PORT or 8000)")
    serve.add_argument("--dev-sessions", action="store_true",
                       help="enable the demo sign-in (refused unless bound to loopback)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        func=cmd_migrate)
    sub.add_parser("seed-demo", help="seed a demo city into an empty database").set_defaults(
        func=cmd_seed_demo)
    imp = sub.add_parser("import", help="import departments or staff from CSV (idempotent)")
    imp.add_argument("what", choices=["departments", "staff"])
    imp.add_argument("file", help="UTF-8 CSV (a BOM is fine)")
    imp.set_defaults(func=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
