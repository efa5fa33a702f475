"""The audit log read by auditors: the console's 監査ログ page and `tsunagu audit log`.

Filters (action or prefix, actor, subject, Japan-time dates, outcome), keyset paging by
id, newest first; only auditors (and the operator at the command line) may read it; every
read is itself an ``audit.log_viewed`` entry, and a refused one is audited too."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chat.actions.audit_log import read_audit_log
from chat.auth.sessions import Principal
from chat.client import TsunaguClient
from chat.context import open_context
from chat.domain.audit_log import parse_log_filters
from chat.domain.dates import JST
from chat.errors import RoleRequired
from tests.support import (
    RunningServer,
    beside,
    events,
    in_own_thread,
    run_tsunagu,
    signed_in,
    sql,
    user_id,
)
from tests.support.people import SUZUKI, TAKAHASHI, YAMADA, YOSHIDA

ADMIN, AUDITOR = YAMADA, YOSHIDA
ROW = re.compile(r'<tr data-entry="(\d+)" data-action="([a-z_.]+)" data-outcome="([a-z]+)">')


def rows(page: str) -> list[tuple[int, str, str]]:
    return [(int(i), a, o) for i, a, o in ROW.findall(page)]


async def log_page(client: TsunaguClient, path: str = "/admin/audit", **params: Any) -> str:
    """The page's HTML (asserting 200) for the filters ``params``."""
    response = await client.request("GET", f"{path}?{urlencode(params)}" if params else path)
    assert response.status_code == 200, response.text
    return response.text


async def test_an_auditor_filters_and_pages_the_log_and_the_view_is_audited(
        server: RunningServer) -> None:
    suzuki = await signed_in(server, SUZUKI)
    takahashi = await signed_in(server, TAKAHASHI)
    auditor = await signed_in(server, AUDITOR)
    async with suzuki, takahashi, auditor:
        # A refusal to find by outcome: staff may not open the console page.
        refused = await suzuki.request("GET", "/admin/audit")
        assert refused.status_code == 403 and "role_required" in refused.text

        page = await log_page(auditor, action="session.signed_in", subject=SUZUKI)
        assert [(a, o) for _, a, o in rows(page)] == [("session.signed_in", "ok")]
        assert "サインイン" in page and "<code>session.signed_in</code>" in page
        assert "鈴木" in page

        # A prefix: every session.* entry, newest first; the Japanese label and raw name.
        prefix = rows(await log_page(auditor, action="session."))
        assert len(prefix) == 3 and {a for _, a, _ in prefix} == {"session.signed_in"}
        assert [i for i, _, _ in prefix] == sorted((i for i, _, _ in prefix), reverse=True)

        # Outcome and actor: the staff member's refusal, and nothing else.
        mine = rows(await log_page(auditor, actor=SUZUKI, outcome="refused"))
        assert [(a, o) for _, a, o in mine] == [("access.refused", "refused")]

        # Dates are days in Japan time: today has entries, tomorrow none.
        today = datetime.now(UTC).astimezone(JST).date()
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert rows(await log_page(auditor, **{"from": today.isoformat(),
                                               "to": today.isoformat()}))
        empty = await log_page(auditor, **{"from": tomorrow})
        assert rows(empty) == [] and "該当する記録はありません" in empty

        # Newest first, the view's own entry on top; older pages by keyset.
        first = await log_page(auditor)
        top = rows(first)
        assert top[0][1] == "audit.log_viewed"
        total = int(sql(server, "SELECT count(*) FROM audit_events")[0][0])
        assert total > len(top) == 50, "the demo city should fill more than a page"
        older = re.search(r'id="audit-log-older" href="([^"]+)"', first)
        assert older, "no link to older entries"
        second = rows(await log_page(auditor, html.unescape(older.group(1))))
        assert second and second[0][0] < top[-1][0]
        bad = await auditor.request("GET", "/admin/audit?action=no.such")
        assert bad.status_code == 400

    viewed = events(server, "audit.log_viewed")
    assert [e["outcome"] for e in viewed].count("ok") >= 7
    assert {e["actor"] for e in viewed} == {user_id(server, AUDITOR)}
    assert {"filter_action": "session.signed_in", "filter_subject": SUZUKI, "limit": 50,
            "before": None}.items() <= viewed[0].items()


async def test_admins_and_staff_are_refused_on_the_record(server: RunningServer) -> None:
    admin = await signed_in(server, ADMIN)
    async with admin:
        page = await admin.request("GET", "/admin/audit")
        assert page.status_code == 403 and "role_required" in page.text
    refusals = [e for e in events(server, "access.refused")
                if e.get("path") == "/admin/audit"]
    assert [e["actor"] for e in refusals] == [user_id(server, ADMIN)]

    # The action refuses (and audits) whoever reaches it without the role, whatever calls
    # it (the console refuses before it: access.refused above).
    admin_actor = Principal(user_id=user_id(server, ADMIN), session_id=0, role="admin",
                            name="山田", department_id=None)

    async def read_as_admin() -> str:
        async with open_context(beside(server.settings)) as ctx:
            try:
                await read_audit_log(ctx, actor=admin_actor, filters=parse_log_filters())
            except RoleRequired as error:
                return error.code
        return "read"

    assert in_own_thread(lambda: asyncio.run(read_as_admin())) == "role_required"
    assert [e["outcome"] for e in events(server, "audit.log_viewed")] == ["refused"]


async def test_the_cli_prints_a_table_or_json_and_is_audited(server: RunningServer) -> None:
    suzuki = await signed_in(server, SUZUKI)
    await suzuki.aclose()
    result = await run_tsunagu(server, "audit", "log", "--action", "session*", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [e["action"] for e in listed["entries"]] == ["session.signed_in"]
    assert listed["entries"][0]["subject"]["staff_number"] == SUZUKI
    assert listed["next_before"] is None

    table = await run_tsunagu(server, "audit", "log", "--subject", SUZUKI, "--limit", "1")
    assert table.returncode == 0, table.stderr
    assert "session.signed_in" in table.stdout or "device.enrolled" in table.stdout
    assert "1 entry" in table.stdout and "older: add --before" in table.stdout

    bad = await run_tsunagu(server, "audit", "log", "--subject", "no-such-person")
    assert bad.returncode == 1 and "user_not_found" in bad.stderr
    viewed = events(server, "audit.log_viewed")
    assert len(viewed) == 2 and all(e["by"].startswith("cli:") for e in viewed)
    assert viewed[0]["filter_action"] == "session.*"
