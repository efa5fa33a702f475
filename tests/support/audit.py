"""Reading the audit log of a test server: `tsunagu audit verify` and the recorded events."""

from __future__ import annotations

import json
from typing import Any

from tests.support.servers import RunningServer, run_tsunagu, sql


async def verify(server: RunningServer, *extra: str) -> tuple[int, str]:
    """Run `tsunagu audit verify` on ``server``'s database: (exit code, its output)."""
    result = await run_tsunagu(server, "audit", "verify", *extra)
    return result.returncode, result.stdout + result.stderr


def events(server: RunningServer, action: str) -> list[dict[str, Any]]:
    """The audit events of ``action`` in chain order, their detail merged into each."""
    rows = sql(server, "SELECT actor_user_id, subject_user_id, outcome, detail FROM "
                       "audit_events WHERE action = :a ORDER BY seq", a=action)
    return [{"actor": r[0], "subject": r[1], "outcome": r[2], **json.loads(r[3])}
            for r in rows]


def user_id(server: RunningServer, staff_number: str) -> int:
    """The users.id of ``staff_number`` on ``server`` (what audit events name as actor)."""
    return int(sql(server, "SELECT id FROM users WHERE staff_number = :s",
                   s=staff_number)[0][0])
