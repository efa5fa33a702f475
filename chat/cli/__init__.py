"""The ``tsunagu`` command. Each subcommand says what it did.

Each command group is a module of this package with a ``register(sub)`` that adds its
subcommands (and their ``func``); :data:`COMMAND_GROUPS` lists them in the order
``tsunagu --help`` shows. A new group is a new module and one line here
(docs/extending.md). Every command but ``migrate`` and ``restore`` first checks that the
instance exists (``chat.cli.common.instance_problem``): run from the wrong folder, a
command names what it looked at and stops with exit 2 instead of creating an empty instance there.
"""

from __future__ import annotations

import argparse
import sys

from chat.cli import (
    audit,
    backup,
    broadcast,
    devices,
    disaster,
    imports,
    pbx,
    policy,
    retention,
    rollcall,
    server,
)
from chat.cli.common import instance_problem, refusal
from chat.config import Settings, SettingsError
from chat.errors import ChatError
from chat.logs import configure_logging

COMMAND_GROUPS = (server, imports, devices, policy, audit, retention, pbx, disaster,
                  rollcall, broadcast, backup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsunagu", description="Tsunagu (つなぐ): secure business chat for city halls")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    if not getattr(args, "creates_instance", False):
        # Before anything opens the database or the secrets file, which would create
        # them (a new, empty instance in whatever folder the command was run from).
        problem = instance_problem(settings)
        if problem is not None:
            print(f"tsunagu: {problem}", file=sys.stderr)
            return 2
    try:
        result: int = args.func(settings, args)
    except ChatError as error:
        # Refusals every command may meet (unknown staff number, a bad value): one line.
        return refusal(error)
    return result
