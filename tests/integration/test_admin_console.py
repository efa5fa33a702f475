"""The admin console over real sockets: a navigation gets the data-free shell; every page
and action needs a DPoP proof (401), the right role (403, audited) and, for a form, the
session's CSRF token (403 ``csrf_failed``, audited); what it changes is audited with the
admin who did it, and every read of message content is an audit event.

The client is ``chat.client.TsunaguClient`` (a software device key and passkey), as a
script would drive the console; the browser story is in tests/browser."""

from __future__ import annotations

import asyncio
import json
import re

import httpx

from chat.client import TsunaguClient
from chat.domain.pbx_formats.registry import format_names
from tests.conftest import ServerFactory
from tests.support import (
    RunningServer,
    beside,
    events,
    signed_in,
    sql,
    user_id,
)
from tests.support.people import SUZUKI, YAMADA, YOSHIDA

ADMIN, AUDITOR, STAFF = YAMADA, YOSHIDA, SUZUKI

# (method, path, who may) for every console route: "admin", "auditor" or "both".
ROUTES = [
    ("GET", "/admin", "both"),
    ("GET", "/admin/departments", "admin"),
    ("POST", "/admin/departments", "admin"),
    ("POST", "/admin/departments/111", "admin"),
    ("GET", "/admin/staff", "admin"),
    ("GET", f"/admin/staff/{SUZUKI}", "admin"),
    ("POST", f"/admin/staff/{SUZUKI}/role", "admin"),
    ("POST", f"/admin/staff/{SUZUKI}/active", "admin"),
    ("GET", "/admin/imports", "admin"),
    ("POST", "/admin/imports/staff", "admin"),
    ("POST", "/admin/imports/directory", "admin"),
    ("GET", "/admin/devices", "admin"),
    ("POST", "/admin/devices/enroll", "admin"),
    ("POST", "/admin/devices/1/revoke", "admin"),
    ("GET", "/admin/records/search", "auditor"),
    ("GET", "/admin/records/messages/1", "auditor"),
    ("GET", "/admin/records/exports", "auditor"),
    ("POST", "/admin/records/exports", "auditor"),
    ("GET", "/admin/records/exports/1", "auditor"),
    ("GET", "/admin/records/retention", "both"),
    ("POST", "/admin/records/retention", "admin"),
    ("GET", "/admin/records/holds", "both"),
    ("POST", "/admin/records/holds", "auditor"),
    ("POST", "/admin/records/holds/1/release", "auditor"),
    ("GET", "/admin/records/verify", "auditor"),
    ("POST", "/admin/records/verify", "auditor"),
    ("GET", "/admin/audit", "auditor"),
    ("GET", "/admin/pbx/events", "admin"),
    ("GET", "/admin/pbx/secrets", "admin"),
    ("POST", "/admin/pbx/secrets", "admin"),
    ("POST", "/admin/pbx/secrets/main/rotate", "admin"),
    ("POST", "/admin/pbx/secrets/main/retire", "admin"),
    ("GET", "/admin/pbx/directory", "admin"),
    ("GET", "/admin/policy", "admin"),
    ("POST", "/admin/policy/hours", "admin"),
    ("POST", "/admin/policy/disaster", "admin"),
    ("GET", "/admin/health", "admin"),
    # 災害モード: admins and crisis staff (auditors and staff are refused)
    ("GET", "/admin/disaster", "admin"),
    ("POST", "/admin/disaster/declare", "admin"),
    ("POST", "/admin/disaster/end", "admin"),
    ("POST", "/admin/disaster/hq-members", "admin"),
    ("GET", "/admin/reports", "admin"),
    ("POST", "/admin/reports/1/status", "admin"),
    ("POST", "/admin/reports/boundary", "admin"),
]

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


async def csrf_of(client: TsunaguClient, path: str = "/admin/imports") -> str:
    page = await client.request("GET", path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def test_a_navigation_gets_the_shell_which_holds_no_data(server: RunningServer
                                                                ) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for path in ("/admin", "/admin/devices", "/admin/records/search?q=防災"):
            shell = await http.get(path)
            assert shell.status_code == 200, path
            assert 'src="/admin/static/console.js"' in shell.text
            assert "鈴木" not in shell.text and "防災訓練" not in shell.text
            assert "script-src 'self'" in shell.headers["content-security-policy"]
            assert shell.headers["cache-control"] == "no-store"
        script = await http.get("/admin/static/console.js")
        assert script.status_code == 200
        assert 'from "/static/device.js"' in script.text
        english = await http.get("/admin?lang=en")
        assert "Tsunagu admin console" in english.text
        assert english.cookies.get("tsunagu_lang") == "en"


async def test_without_a_valid_proof_every_console_request_is_401(server: RunningServer
                                                                  ) -> None:
    admin = await signed_in(server, ADMIN)
    async with admin, httpx.AsyncClient(base_url=server.http_url) as http:
        token = admin.token
        assert token
        # A session presented without a proof: refused like the JSON API refuses it.
        for method, path in (("GET", "/admin/devices"), ("POST", "/admin/devices/1/revoke"),
                             ("POST", f"/admin/staff/{SUZUKI}/role")):
            response = await http.request(method, path,
                                          headers={"Authorization": f"DPoP {token}"})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"].startswith("DPoP")
            assert response.headers["dpop-nonce"]
        # A POST carrying only the cookie (a cross-site form would at most do this).
        cookie = await http.post(f"/admin/staff/{SUZUKI}/role", data={"role": "admin"},
                                 headers={"Cookie": f"tsunagu_session={token}"})
        assert cookie.status_code == 401
        # A proof from another key is refused too.
        forged = await http.get("/admin/devices", headers={
            "Authorization": f"DPoP {token}", "DPoP": "not.a.proof"})
        assert forged.status_code == 401
        assert "invalid_dpop_proof" in forged.headers["www-authenticate"]
    assert sql(server, "SELECT role FROM users WHERE staff_number = :s", s=SUZUKI)[0][0] == "staff"


async def test_every_console_route_refuses_the_wrong_role_with_403_and_audits_it(
        server: RunningServer) -> None:
    clients = {role: await signed_in(server, number)
               for role, number in (("admin", ADMIN), ("auditor", AUDITOR),
                                    ("staff", STAFF))}
    refused = 0
    try:
        for method, path, allowed in ROUTES:
            for role, client in clients.items():
                if allowed in {role, "both"}:
                    continue
                response = await client.request(method, path, data={} if method == "POST"
                                                else None)
                assert response.status_code == 403, (role, method, path, response.text)
                assert response.headers["content-type"].startswith("text/html")
                assert "role_required" in response.text
                assert "権限がありません" in response.text
                refused += 1
        # The JSON API stays JSON.
        api = await clients["auditor"].request("GET", "/api/admin/devices")
        assert api.status_code == 403 and api.json()["error"]["code"] == "role_required"
        # Each role reaches its own pages.
        for method, path, allowed in ROUTES:
            if method != "GET" or path.endswith("/1"):
                continue
            role = "admin" if allowed in {"admin", "both"} else "auditor"
            page = await clients[role].request("GET", path)
            assert page.status_code == 200, (role, path, page.text)
    finally:
        for client in clients.values():
            await client.aclose()
    recorded = events(server, "access.refused")
    assert len(recorded) == refused + 1
    assert {e["actor"] for e in recorded} == {user_id(server, n)
                                              for n in (ADMIN, AUDITOR, STAFF)}
    assert all(e["outcome"] == "refused" and e["path"].startswith(("/admin", "/api/admin"))
               for e in recorded)


async def test_a_form_without_the_sessions_csrf_token_is_refused_and_audited(
        server: RunningServer) -> None:
    admin = await signed_in(server, ADMIN)
    other = await signed_in(server, ADMIN)
    async with admin, other:
        missing = await admin.request("POST", f"/admin/staff/{SUZUKI}/role",
                                      data={"role": "manager"})
        assert missing.status_code == 403
        assert "csrf_failed" in missing.text
        # Another session's token (the same person on another PC) is not this one's.
        foreign = await admin.request("POST", f"/admin/staff/{SUZUKI}/role",
                                      data={"role": "manager",
                                            "csrf_token": await csrf_of(other)})
        assert foreign.status_code == 403 and "csrf_failed" in foreign.text
        assert sql(server, "SELECT role FROM users WHERE staff_number = :s", s=SUZUKI)[0][0] \
            == "staff"

        token = await csrf_of(admin, f"/admin/staff/{SUZUKI}")
        changed = await admin.request("POST", f"/admin/staff/{SUZUKI}/role",
                                      data={"role": "manager", "csrf_token": token})
        assert changed.status_code == 200, changed.text
        assert changed.headers["x-console-location"] == f"/admin/staff/{SUZUKI}"
        assert "役割を変更しました" in changed.text
    assert sql(server, "SELECT role FROM users WHERE staff_number = :s",
               s=SUZUKI)[0][0] == "manager"
    refusals = [e for e in events(server, "access.refused") if e.get("reason") == "csrf_failed"]
    assert len(refusals) == 2
    role_changes = events(server, "user.role_changed")
    assert role_changes[-1]["actor"] == user_id(server, ADMIN)
    assert (role_changes[-1]["before"], role_changes[-1]["after"]) == ("staff", "manager")


async def test_every_read_of_message_content_in_the_console_is_audited(
        server: RunningServer) -> None:
    auditor = await signed_in(server, AUDITOR)
    async with auditor:
        # No reason, no read (docs/audit.md, Transparency).
        refused = await auditor.request("GET", "/admin/records/search?run=1&q=防災")
        assert refused.status_code == 400 and "防災訓練" not in refused.text
        results = await auditor.request(
            "GET", "/admin/records/search?run=1&q=防災&reason=防災訓練の記録確認")
        assert results.status_code == 200, results.text
        assert "防災訓練" in results.text
        # The auditor is told the people read will see it.
        assert "本人の「設定」画面に表示されます" in results.text
        ids = [int(i) for i in re.findall(r'data-message="(\d+)"', results.text)]
        assert ids
        link = re.search(rf'href="(/admin/records/messages/{ids[0]}\?[^"]+)"', results.text)
        assert link and "reason=" in link.group(1)
        assert (await auditor.request("GET", f"/admin/records/messages/{ids[0]}")
                ).status_code == 400
        history = await auditor.request("GET", link.group(1).replace("&amp;", "&"))
        assert history.status_code == 200
        # The form alone reads nothing.
        await auditor.request("GET", "/admin/records/search")
    searched = events(server, "records.searched")
    assert len(searched) == 1 and searched[0]["message_ids"] == ids
    assert searched[0]["actor"] == user_id(server, AUDITOR)
    assert searched[0]["reason"] == "防災訓練の記録確認"
    viewed = events(server, "records.viewed")
    assert [v["message_id"] for v in viewed] == [ids[0]]
    assert viewed[0]["reason"] == "防災訓練の記録確認"


async def test_a_staff_csv_preview_writes_nothing_and_apply_does_what_it_showed(
        server: RunningServer) -> None:
    admin = await signed_in(server, ADMIN)
    csv_text = ("staff_number,name,kana,department_code,role,extension,active\n"
                "1002,鈴木 花子,すずき はなこ,121,staff,2101,1\n"
                "1099,新人 太郎,しんじん たろう,211,staff,,1\n")
    before = sql(server, "SELECT count(*) FROM audit_events")[0][0]
    async with admin:
        token = await csrf_of(admin, "/admin/imports")
        preview = await admin.request("POST", "/admin/imports/staff",
                                      data={"csrf_token": token, "step": "preview"},
                                      files={"file": ("staff.csv", csv_text.encode(),
                                                      "text/csv")})
        assert preview.status_code == 200, preview.text
        assert re.search(rf'data-staff="{SUZUKI}" data-kind="moved"', preview.text)
        assert re.search(r'data-staff="1099" data-kind="created"', preview.text)
        assert "危機管理課" in preview.text and "庶務係" in preview.text
        assert sql(server, "SELECT count(*) FROM users WHERE staff_number = '1099'")[0][0] == 0
        assert sql(server, "SELECT count(*) FROM audit_events")[0][0] == before

        applied = await admin.request("POST", "/admin/imports/staff",
                                      data={"csrf_token": token, "step": "apply",
                                            "csv": csv_text})
        assert applied.status_code == 200, applied.text
        assert "新規 1、異動 1" in applied.text
        bad = await admin.request("POST", "/admin/imports/staff",
                                  data={"csrf_token": token, "step": "preview",
                                        "csv": "staff_number,name,department_code\n1002,,111\n"})
        assert bad.status_code == 400 and "name is empty" in bad.text
    moved = events(server, "user.moved")
    assert moved[-1]["actor"] == user_id(server, ADMIN)
    channels = {row[0] for row in sql(
        server, "SELECT c.name FROM memberships m JOIN channels c ON c.id = m.channel_id "
                "JOIN users u ON u.id = m.user_id WHERE u.staff_number = :s "
                "AND m.source = 'department'", s=SUZUKI)}
    assert channels == {"総務部", "危機管理課", "防災係"}


async def test_the_admins_operations_and_the_auditors_holds_and_verify_round_trip(
        server: RunningServer) -> None:
    admin = await signed_in(server, ADMIN)
    auditor = await signed_in(server, AUDITOR)
    async with admin, auditor:
        token = await csrf_of(admin)

        async def post(client: TsunaguClient, path: str, csrf: str,
                       **fields: str) -> httpx.Response:
            response = await client.request("POST", path, data={"csrf_token": csrf, **fields})
            assert response.status_code == 200, (path, response.text)
            return response

        # The org chart: a new 係 under 危機管理課, then 防災係 moved under it (a cycle is
        # refused).
        await post(admin, "/admin/departments", token, code="122", name="避難所係",
                   parent_code="120")
        await post(admin, "/admin/departments/121", token, name="防災係",
                   parent_code="122")
        cycle = await admin.request("POST", "/admin/departments/120", data={
            "csrf_token": token, "name": "危機管理課", "parent_code": "121"})
        assert cycle.status_code == 400 and "cycle" in cycle.text
        tree = await admin.request("GET", "/admin/departments")
        assert tree.text.index('data-code="122"') < tree.text.index('data-code="121"')

        # Webhook secrets: created (shown once), rotated, the old one retired.
        created = await post(admin, "/admin/pbx/secrets", token, name="main", kind="standard")
        assert re.search(r'class="secret-value">whsec_', created.text)
        rotated = await post(admin, "/admin/pbx/secrets/main/rotate", token, name="main-2")
        assert "main-2" in rotated.text and "whsec_" in rotated.text
        retired = await post(admin, "/admin/pbx/secrets/main/retire", token)
        assert "シークレットを廃止しました" in retired.text
        listed = await admin.request("GET", "/admin/pbx/secrets")
        assert "whsec_" not in listed.text
        # The kinds offered are the registered PBX formats.
        assert re.findall(r'<option value="([a-z_]+)">', listed.text) == format_names()

        # The directory: a preview, then the import.
        directory = "number,kind,target,name\n2101,職員,1002,\n2900,窓口,121,防災係 窓口\n"
        preview = await post(admin, "/admin/imports/directory", token, step="preview",
                             csv=directory)
        assert preview.text.count('data-kind="added"') == 2
        await post(admin, "/admin/imports/directory", token, step="apply", csv=directory)
        again = await post(admin, "/admin/imports/directory", token, step="preview",
                           csv=directory)
        assert "変更はありません" in again.text

        # Working hours with a holiday, and disaster mode.
        hours = {f"{d}_open1": "08:30" for d in ("mon", "tue", "wed", "thu", "fri")}
        hours |= {f"{d}_close1": "17:15" for d in ("mon", "tue", "wed", "thu", "fri")}
        saved = await post(admin, "/admin/policy/hours", token, holidays="2026-11-03",
                           year_end_closure="1", **hours)
        assert "2026-11-03" in saved.text
        bad = await admin.request("POST", "/admin/policy/hours", data={
            "csrf_token": token, "mon_open1": "18:00", "mon_close1": "08:00"})
        assert bad.status_code == 400
        declared = await post(admin, "/admin/policy/disaster", token, on="1")
        assert 'data-on="1"' in declared.text
        await post(admin, "/admin/records/retention", token, channel_kind="direct",
                   keep_years="3")
        health = await admin.request("GET", "/admin/health")
        assert f'id="health-node">{server.settings.node_id}<' in health.text
        assert 'id="health-database" data-ok="1"' in health.text

        # The auditor: a legal hold placed and released, and the log verified.
        audit_token = await csrf_of(auditor, "/admin/records/holds")
        placed = await post(auditor, "/admin/records/holds", audit_token,
                            reason="情報公開請求", staff_number=SUZUKI, since="2026-04-01")
        hold_id = re.search(r'data-hold="(\d+)"', placed.text)
        assert hold_id
        await post(auditor, f"/admin/records/holds/{hold_id.group(1)}/release", audit_token)
        await post(auditor, "/admin/records/verify", audit_token)
        for _ in range(100):
            page = await auditor.request("GET", "/admin/records/verify")
            if 'data-state="done"' in page.text:
                break
            await asyncio.sleep(0.1)
        assert 'id="verify-result">問題は見つかりませんでした' in page.text, page.text
    for action in ("orgchart.department_created", "orgchart.department_changed",
                   "pbx.secret_created", "pbx.secret_retired", "pbx.directory_imported",
                   "policy.working_hours_set", "policy.disaster_mode_on",
                   "retention.policy_set"):
        recorded = events(server, action)
        assert recorded and str(user_id(server, ADMIN)) in json.dumps(recorded), action
    for action in ("legal_hold.placed", "legal_hold.released", "audit.verified"):
        assert events(server, action)[-1]["actor"] == user_id(server, AUDITOR), action


async def test_the_health_page_lists_every_live_node(make_server: ServerFactory) -> None:
    """Nodes report to the shared database; any node's health page shows them all."""
    first = make_server()
    second = make_server()
    admin = await signed_in(first, ADMIN)
    async with admin:
        health = await admin.request("GET", "/admin/health")
        assert health.status_code == 200, health.text
        for node in (first, second):
            row = re.search(rf'<tr data-node="{node.settings.node_id}" data-stale="(\d)"',
                            health.text)
            assert row and row.group(1) == "0", node.settings.node_id
        assert "（このノード）" in health.text


async def test_the_consoles_report_board_reloads_itself_while_a_disaster_lasts(
        server: RunningServer) -> None:
    """The list is live (every 10 s, never while a form has the focus: console.js); the
    map page is not reloaded, so showing it reads the positions once."""
    from chat.actions.disaster import declare_disaster, end_disaster
    from chat.context import open_context

    admin = await signed_in(server, ADMIN)
    try:
        async with open_context(beside(server.settings)) as ctx:
            await declare_disaster(ctx, name="総合防災訓練", drill=True, by="test")
            live = await admin.request("GET", "/admin/reports")
            assert 'id="reports-live" data-refresh-ms="10000"' in live.text
            with_map = await admin.request("GET", "/admin/reports?map=1")
            assert 'id="console-hq-map"' in with_map.text
            assert "data-refresh-ms" not in with_map.text
            await end_disaster(ctx, by="test")
        ended = await admin.request("GET", "/admin/reports")
        assert 'id="reports-live"' in ended.text and "data-refresh-ms" not in ended.text
    finally:
        await admin.aclose()
