"""Separation of duties on a real server: admins manage devices, accounts and retention;
auditors hold records; every refusal, membership and role change, and every message an
admin or auditor reads by role is in the audit log; nobody can change the log through the
app."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import (
    ChatClient,
    RunningServer,
    auth_headers,
    department_channel,
    dev_token,
    events,
    post,
    read_until_closed,
    run_tsunagu,
    signed_in,
    sql,
    user_id,
    verify,
)
from tests.support.people import SUZUKI, TANAKA, WATANABE, YAMADA, YOSHIDA


async def test_an_admin_revokes_a_device_in_one_call_and_its_connection_drops(
        server: RunningServer) -> None:
    user = await signed_in(server, SUZUKI)
    admin = await signed_in(server, YAMADA)
    async with user, admin:
        ws, _ = await user.connect()
        listed = await admin.request("GET", "/api/admin/devices")
        assert listed.status_code == 200, listed.text
        device = next(d for d in listed.json()["devices"] if d["staff_number"] == SUZUKI)
        revoked = await admin.request("POST", f"/api/admin/devices/{device['id']}/revoke",
                                      json={"reason": "紛失届 2026-11-26"})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["sessions_ended"] == 1
        await read_until_closed(ws, 3)
        assert ws.close_code == 4002
        assert (await user.request("GET", "/api/me")).status_code == 401
    recorded = events(server, "device.revoked")
    assert recorded[-1]["actor"] == user_id(server, YAMADA)


async def test_each_role_is_refused_what_is_not_its_duty_and_the_refusal_is_audited(
        server: RunningServer) -> None:
    staff, admin, auditor = [await dev_token(server, n) for n in (SUZUKI, YAMADA, YOSHIDA)]
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        async def call(token: str, method: str, path: str, **kw: Any) -> httpx.Response:
            return await http.request(method, path, headers=auth_headers(token), **kw)

        refused = [
            (staff, "GET", "/api/admin/devices", {}),
            (auditor, "POST", "/api/admin/devices/1/revoke", {"json": {}}),
            (auditor, "POST", f"/api/admin/users/{SUZUKI}/disable", {}),
            (auditor, "PUT", "/api/admin/retention",
             {"json": {"channel_kind": "direct", "keep_years": 1}}),
            (admin, "POST", "/api/records/holds",
             {"json": {"reason": "x", "staff_number": SUZUKI}}),
            (admin, "POST", "/api/records/holds/1/release", {}),
            (staff, "GET", "/api/records/holds", {}),
        ]
        for token, method, path, kw in refused:
            response = await call(token, method, path, **kw)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"]["code"] == "role_required"
        assert len(events(server, "access.refused")) == len(refused)
        assert {e["what"] for e in events(server, "access.refused")} >= {
            "place legal holds", "set retention periods", "revoke devices"}

        # Each may do its own duty.
        policy = await call(admin, "PUT", "/api/admin/retention",
                            json={"channel_kind": "direct", "keep_years": 3})
        assert policy.status_code == 200 and policy.json()["keep_years"] == 3
        bad = await call(admin, "PUT", "/api/admin/retention",
                         json={"channel_kind": "direct", "keep_years": 0})
        assert bad.status_code == 400 and "1 to 100" in bad.json()["error"]["message"]
        hold = await call(auditor, "POST", "/api/records/holds",
                          json={"reason": "監査請求", "staff_number": SUZUKI,
                                "since": "2026-04-01", "until": "2026-09-30"})
        assert hold.status_code == 201, hold.text
        assert hold.json()["starts_at"].startswith("2026-03-31T15:00")
        listed = await call(admin, "GET", "/api/records/holds")
        assert [h["id"] for h in listed.json()["holds"]] == [hold.json()["id"]]
        released = await call(auditor, "POST", f"/api/records/holds/{hold.json()['id']}/release")
        assert released.status_code == 200 and released.json()["released_at"]
        twice = await call(auditor, "POST", f"/api/records/holds/{hold.json()['id']}/release")
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "hold_released"
        unknown = await call(auditor, "POST", "/api/records/holds/9999/release")
        assert unknown.status_code == 404
        malformed = await call(auditor, "POST", "/api/records/holds",
                               json={"reason": "x", "since": "昨日"})
        assert malformed.status_code == 400

        # Nothing in the app edits or deletes audit entries, for any role.
        for token in (admin, auditor):
            for method in ("PUT", "PATCH", "DELETE"):
                for path in ("/api/audit/events/1", "/api/audit/messages/1",
                             "/api/records/holds/1"):
                    response = await call(token, method, path)
                    assert response.status_code in {404, 405}, (method, path)
    code, output = await verify(server)
    assert code == 0, output


async def test_an_admin_or_auditor_reading_their_own_channel_is_not_a_privileged_read(
        server: RunningServer) -> None:
    """docs/audit.md, Privileged reads: only reads made by role are ``messages.read``
    (every path: integration/test_privileged_reads.py). Reading a channel one is a
    member of, as the admin and the auditor are of 総務部, is an ordinary read."""
    channel, ids = await post(server, SUZUKI, ["防災倉庫の点検は金曜です", "了解です"])
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for staff_number in (SUZUKI, YOSHIDA, YAMADA):
            token = await dev_token(server, staff_number)
            history = await http.get(f"/api/channels/{channel}/messages",
                                     headers=auth_headers(token))
            assert history.status_code == 200, history.text
            assert set(ids) <= {m["id"] for m in history.json()["messages"]}
            found = await http.get("/api/search/messages", params={"q": "防災"},
                                   headers=auth_headers(token))
            assert found.status_code == 200
    admin = await ChatClient.connect(server, await dev_token(server, YAMADA))
    await admin.send({"type": "resync", "channel_id": channel, "after_seq": 0})
    await admin.expect("resync.result")
    await admin.close()
    assert events(server, "messages.read") == []


async def test_membership_and_role_changes_are_audited(server: RunningServer,
                                                       tmp_path: Any) -> None:
    token = await dev_token(server, SUZUKI)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        group = await http.post("/api/channels/group", headers=auth_headers(token),
                                json={"name": "防災訓練ワーキング",
                                      "member_ids": [user_id(server, TANAKA)]})
        assert group.status_code == 201
    added = [e for e in events(server, "membership.added")
             if e["channel_id"] == group.json()["id"]]
    assert {e["subject"] for e in added} == {user_id(server, SUZUKI), user_id(server, TANAKA)}
    assert {e["actor"] for e in added} == {user_id(server, SUZUKI)}

    # An import promotes SUZUKI to manager, moves TANAKA to another section, disables
    # WATANABE.
    current = sql(server, "SELECT staff_number, u.name, u.kana, d.code, role, extension "
                          "FROM users u JOIN departments d ON d.id = u.department_id "
                          "WHERE staff_number IN (:a, :b, :c)", a=SUZUKI, b=TANAKA, c=WATANABE)
    rows = {r[0]: list(r) for r in current}
    rows[SUZUKI][4] = "manager"
    rows[TANAKA][3] = "112"
    lines = ["staff_number,name,kana,department_code,role,extension,active"]
    for number, row in sorted(rows.items()):
        lines.append(",".join(str(v or "") for v in row) + (",0" if number == WATANABE else ",1"))
    path = tmp_path / "staff.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = await run_tsunagu(server, "import", "staff", str(path))
    assert result.returncode == 0, result.stderr

    role = events(server, "user.role_changed")
    assert [(e["subject"], e["before"], e["after"]) for e in role] == [
        (user_id(server, SUZUKI), "staff", "manager")]
    assert role[0]["by"].startswith("cli")
    assert [e["subject"] for e in events(server, "user.moved")] == [user_id(server, TANAKA)]
    assert [e["subject"] for e in events(server, "user.disabled")] == [
        user_id(server, WATANABE)]
    moved_id = user_id(server, TANAKA)
    assert any(e["subject"] == moved_id for e in events(server, "membership.removed"))
    assert any(e["subject"] == moved_id and e["source"] == "department"
               for e in events(server, "membership.added") if e["by"] and
               e["by"].startswith("cli"))
    client = await ChatClient.connect(server, await dev_token(server, TANAKA))
    assert await department_channel(client)
    await client.close()
    code, output = await verify(server)
    assert code == 0, output
