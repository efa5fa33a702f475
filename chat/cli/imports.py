"""`tsunagu import departments|staff`: the org chart from the city's CSV files."""


from __future__ import annotations

import argparse
from pathlib import Path

from chat.cli.common import (
    Subcommands,
    import_report,
    operator,
    progress,
    read_csv,
)
from chat.config import Settings
from chat.context import AppContext
from chat.domain.imports import parse_departments, parse_staff
from chat.store.uow import TxMode, unit_of_work


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.orgchart import import_departments, import_staff

    path = Path(args.file)
    text = read_csv(path)
    if text is None:
        return 2

    async def job(ctx: AppContext) -> str:
        if args.what == "departments":
            rows = parse_departments(text)
            report = await import_departments(ctx, rows, progress=progress("departments"),
                                              by=operator())
        else:
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                codes = {d.code for d in await uow.departments.all()}
            staff_rows = parse_staff(text, known_departments=codes)
            report = await import_staff(ctx, staff_rows, progress=progress("staff"),
                                        by=operator())
        return f"{args.what} imported from {path}: {report.summary()}"

    return import_report(settings, path, job)




def register(sub: Subcommands) -> None:
    imp = sub.add_parser("import", help="import departments or staff from CSV (idempotent)")
    imp.add_argument("what", choices=["departments", "staff"])
    imp.add_argument("file", help="UTF-8 CSV (a BOM is fine)")
    imp.set_defaults(func=cmd_import)
