"""`tsunagu serve`, `migrate` and `seed-demo`: running a node and preparing its database."""


from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator

from chat.cli.common import (
    Subcommands,
    redact,
    run_offline,
    sqlite_path,
)
from chat.config import Settings
from chat.context import AppContext
from chat.secrets import SECRETS_FILE, InstanceSecrets
from chat.store.migrations import database_revisions, upgrade
from chat.store.uow import TxMode, unit_of_work


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """The one command that creates an instance: the database (a SQLite file under
    CHAT_VAR_DIR by default) and, for a database that had no schema yet, the secrets
    file beside it. A database that had one already belongs to servers whose secrets
    file must be copied here, never replaced by a new one."""
    db_file = sqlite_path(settings.database_url)
    fresh = (db_file is not None and not db_file.exists()) or not asyncio.run(
        database_revisions(settings.database_url))
    upgrade(settings.database_url)
    where = db_file or redact(settings.database_url)
    print(f"database migrated to the latest schema ({where})")
    secrets_file = settings.var_dir.absolute() / SECRETS_FILE
    if secrets_file.exists():
        return 0
    if fresh:
        InstanceSecrets.load_or_create(settings.var_dir)
        print(f"new instance secrets written to {secrets_file} (keep it; every node of "
              "this instance needs the same file)")
    else:
        print(f"warning: no {SECRETS_FILE} in {secrets_file.parent}: copy the servers' "
              "file there (mode 0600) or set CHAT_VAR_DIR to its folder before running "
              "other commands", file=sys.stderr)
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from chat.demo import seed_demo

    async def job(ctx: AppContext) -> str:
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            if await uow.users.count() > 0:
                return "database already has users: demo not seeded"
        depts, staff = await seed_demo(ctx)
        return (f"demo city seeded: {depts.created} departments, {staff.created} staff, "
                f"{depts.channels_created} channels")

    print(run_offline(settings, job))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from chat.app import create_app
    from chat.logs import uvicorn_log_options
    from chat.runtime import settle_garbage_collector, uvicorn_options

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
    app = create_app(settings)
    settle_garbage_collector()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                **uvicorn_options(settings), **uvicorn_log_options(settings.log_format))
    return 0


def _banner(settings: Settings) -> Iterator[str]:
    host = "localhost" if settings.host in {"127.0.0.1", "::1"} else settings.host
    yield f"Tsunagu is serving on http://{host}:{settings.port}"
    yield (f"Staff sign in with a passkey on an enrolled device: open the link printed by "
           f"`tsunagu device enroll STAFF_NUMBER` (pages use {settings.public_origin})")
    if settings.dev_sessions_allowed:
        yield ("DEMO MODE (loopback only): open the page and pick a demo person to sign in "
               "as; real device enrollment is not required here.")
    if not settings.off_hours_policy:
        yield "off-hours policy is OFF (CHAT_OFF_HOURS_POLICY=off): anyone may connect any time"


def register(sub: Subcommands) -> None:
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="bind address (default CHAT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default CHAT_PORT or 8000)")
    serve.add_argument("--dev-sessions", action="store_true",
                       help="enable the demo sign-in (refused unless bound to loopback)")
    serve.set_defaults(func=cmd_serve)
    # The one command that may meet no instance yet (chat.cli.main checks the others).
    sub.add_parser("migrate", help="create or upgrade the database schema (and, for a new "
                   "instance, its secrets file)").set_defaults(func=cmd_migrate,
                                                                 creates_instance=True)
    sub.add_parser("seed-demo", help="seed a demo city into an empty database").set_defaults(
        func=cmd_seed_demo)
