"""Privileged reads (docs/audit.md): every path that returns message content logs, as
``messages.read``, exactly the messages an admin or auditor reads *by role* (in a channel
they are not a member of), and nothing a member reads in their own channel.

Each path is exercised over a real server: the member paths (history, search, pins, the
channel list and the websocket's ready snapshot, resync, ``pin``, ``react``) both as a
member and as a non-member, the role paths (the HQ board, a report's status change and
its photo) as an admin outside the HQ and as one inside it. ``test_every_read_path_calls_
the_one_audit`` below keeps new paths from skipping the rule."""

from __future__ import annotations

import ast
import io
import json
import pathlib
import uuid
from typing import Any

import httpx
from PIL import Image

from chat.actions.disaster import declare_disaster, set_hq_members
from chat.context import open_context
from chat.domain.stamps import STAMPS
from tests.support import (
    ChatClient,
    RunningServer,
    auth_headers,
    beside,
    dev_token,
    events,
    post,
    user_id,
)
from tests.support.people import ITO, NAKAMURA, SUZUKI, TANAKA, YAMADA, YOSHIDA

BODY = "防災倉庫の鍵は金庫にあります"
STAMP = STAMPS[0]


async def _call(server: RunningServer, token: str, method: str, path: str,
                **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        return await http.request(method, path, headers={**auth_headers(token),
                                                         **kwargs.pop("headers", {})},
                                  **kwargs)


def _reads_by(server: RunningServer, staff: str) -> list[dict[str, Any]]:
    uid = user_id(server, staff)
    return [e for e in events(server, "messages.read") if e["actor"] == uid]


async def _reply(client: ChatClient, ref: str) -> dict[str, Any]:
    """The reply to the frame sent with ``ref``, whatever its type (ok, result or error)."""
    while True:
        frame = await client._recv(10)
        if frame.get("ref") == ref:
            return frame
        client.backlog.append(frame)


async def _read_everything(server: RunningServer, staff: str, channel: int,
                           ids: list[int]) -> dict[str, Any]:
    """Every member read path on ``channel``; what each returned (status or frame)."""
    token = await dev_token(server, staff)
    seen: dict[str, Any] = {}
    seen["history"] = await _call(server, token, "GET", f"/api/channels/{channel}/messages")
    seen["search"] = await _call(server, token, "GET", "/api/search/messages",
                                 params={"q": "防災倉庫"})
    seen["pins"] = await _call(server, token, "GET", f"/api/channels/{channel}/pins")
    seen["channels"] = await _call(server, token, "GET", "/api/channels")
    client = await ChatClient.connect(server, token)
    seen["ready"] = client.ready
    for name, frame in (("resync", {"type": "resync", "channel_id": channel, "after_seq": 0}),
                        ("pin", {"type": "pin", "message_id": ids[0]}),
                        ("react", {"type": "react", "message_id": ids[1], "emoji": STAMP})):
        await client.send({**frame, "ref": name})
        seen[name] = await _reply(client, name)
    await client.close()
    return seen


async def test_a_member_reading_their_own_channel_is_not_logged_whatever_their_role(
        server: RunningServer) -> None:
    # SUZUKI's department channel (総務部): the admin and the auditor are members.
    channel, ids = await post(server, SUZUKI, [BODY, "了解です"])
    for staff in (YAMADA, YOSHIDA, SUZUKI):
        seen = await _read_everything(server, staff, channel, ids)
        assert seen["history"].status_code == 200
        assert ids[0] in [m["id"] for m in seen["history"].json()["messages"]]
        assert ids[0] in [m["id"] for m in seen["search"].json()["results"]]
        assert seen["pins"].status_code == 200
        listed = {c["id"]: c for c in seen["channels"].json()["channels"]}
        assert listed[channel]["last_message"]["id"] == ids[1]
        assert seen["resync"]["type"] == "resync.result", seen["resync"]
        assert seen["pin"]["type"] == "ok" and seen["react"]["type"] == "ok"
    for staff in (YAMADA, YOSHIDA, SUZUKI):
        assert _reads_by(server, staff) == [], staff


async def test_a_non_member_admin_or_auditor_is_refused_on_member_paths(
        server: RunningServer) -> None:
    # A group of SUZUKI and TANAKA: neither the admin nor the auditor is in it.
    suzuki = await dev_token(server, SUZUKI)
    group = await _call(server, suzuki, "POST", "/api/channels/group",
                        json={"name": "鍵の管理", "member_ids": [user_id(server, TANAKA)]})
    assert group.status_code == 201, group.text
    channel, ids = await post(server, SUZUKI, [BODY, "了解です"], channel=group.json()["id"])
    for staff in (YAMADA, YOSHIDA):
        seen = await _read_everything(server, staff, channel, ids)
        for path in ("history", "pins"):
            assert seen[path].status_code == 403, (staff, path, seen[path].text)
        assert ids[0] not in [m["id"] for m in seen["search"].json()["results"]]
        assert channel not in [c["id"] for c in seen["channels"].json()["channels"]]
        assert channel not in [c["id"] for c in seen["ready"]["channels"]]
        for frame in ("resync", "pin", "react"):
            assert seen[frame]["type"] == "error", (staff, frame, seen[frame])
        assert "鍵は金庫" not in json.dumps(
            {k: v.json() if isinstance(v, httpx.Response) else v for k, v in seen.items()},
            ensure_ascii=False)
        assert _reads_by(server, staff) == [], staff


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 90, 160)).save(out, "JPEG")
    return out.getvalue()


async def test_an_admin_reading_the_hq_board_by_role_is_logged_and_as_a_member_is_not(
        server: RunningServer) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [TANAKA, ITO], by="test")
        await declare_disaster(ctx, name="総合防災訓練", drill=True, by="test")
    field = await dev_token(server, NAKAMURA)
    uploaded = await _call(server, field, "POST", "/api/reports/photos", content=_jpeg(),
                           headers={"Content-Type": "image/jpeg"})
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["photo"]["id"]
    report = await _call(server, field, "POST", "/api/cards/report", json={
        "client_id": uuid.uuid4().hex, "category": "flood", "severity": 3,
        "note": "市役所前が冠水", "photo_ids": [photo], "position": None})
    assert report.status_code == 201, report.text
    message = report.json()["message"]

    admin = await dev_token(server, YAMADA)       # not on the HQ: reads by role
    board = await _call(server, admin, "GET", "/api/reports")
    assert [r["message_id"] for r in board.json()["reports"]] == [message["id"]]
    status = await _call(server, admin, "POST", f"/api/reports/{message['id']}/status",
                         json={"status": "in_progress"})
    assert status.status_code == 200, status.text
    image = await _call(server, admin, "GET", f"/api/reports/photos/{photo}/thumb")
    assert image.status_code == 200
    reads = {r["via"]: r for r in _reads_by(server, YAMADA)}
    assert set(reads) == {"report_board", "report_status", "report_photo"}
    for read in reads.values():
        assert read["message_ids"] == [message["id"]]
        assert read["channel_ids"] == [message["channel_id"]]
        assert read["outcome"] == "ok" and "冠水" not in json.dumps(read, ensure_ascii=False)

    # The HQ's own members read the same board as members: not logged.
    hq = await dev_token(server, TANAKA)
    assert (await _call(server, hq, "GET", "/api/reports")).status_code == 200
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [TANAKA, ITO, YAMADA], by="test")
    again = await _call(server, admin, "GET", "/api/reports")
    assert [r["message_id"] for r in again.json()["reports"]] == [message["id"]]
    assert len(_reads_by(server, YAMADA)) == 3
    assert _reads_by(server, TANAKA) == []

    # The auditor has no role path to the board at all.
    auditor = await dev_token(server, YOSHIDA)
    refused = await _call(server, auditor, "GET", "/api/reports")
    assert refused.status_code == 403 and _reads_by(server, YOSHIDA) == []


# --- every path that returns message content goes through the one audit ------------------

ACTIONS = pathlib.Path(__file__).resolve().parents[2] / "chat" / "actions"

# Functions that put messages on the wire but are not a person's read: what they return
# is what the caller just wrote (in a channel the write checked membership of), or it is
# pushed live to members' connections (docs/audit.md, Privileged reads).
NOT_READS = {
    ("broadcast.py", "send_broadcast"): "the sender's own broadcast",
    ("broadcast.py", "_repeat"): "pushed live to the channel's members",
    ("memos.py", "record_memo"): "the operator's own memo",
    ("message_edits.py", "_revise"): "the author's own edit or delete",
    ("messages.py", "_duplicate"): "the sender's own message, sent again",
    ("notices.py", "revise_notice"): "pushed live to the channel's members",
    ("reports.py", "_stored_report"): "the reporter's own report, sent again",
    ("wire.py", "wire_message"): "the wire form itself",
}
# Paths that return content without the wire form (a body, a photo, a board entry).
OTHER_READS = {("message_reads.py", "revisions"), ("attachments.py", "photo_bytes"),
               ("reports.py", "report_photo_bytes"), ("reports.py", "report_board")}


def _called(node: ast.AST) -> set[str]:
    return {c.func.id if isinstance(c.func, ast.Name) else c.func.attr
            for c in ast.walk(node) if isinstance(c, ast.Call)
            and isinstance(c.func, ast.Name | ast.Attribute)}


def test_every_read_path_calls_the_one_audit() -> None:
    unaudited, found = [], set()
    for path in sorted(ACTIONS.glob("*.py")):
        if path.name == "records.py":    # the auditor's records: records.* events
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {n.name: n for n in tree.body
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        audited = {name for name, f in functions.items()
                   if "audit_privileged_read" in _called(f)}
        for name, function in functions.items():
            key = (path.name, name)
            if not ({"wire_message", "wire_messages"} & _called(function)
                    or key in OTHER_READS):
                continue
            found.add(key)
            # Audited itself, or by the one function of the module that calls it.
            if name in audited or any(name in _called(functions[a]) for a in audited):
                continue
            if key not in NOT_READS:
                unaudited.append(key)
    assert unaudited == [], f"read paths without audit_privileged_read: {unaudited}"
    assert set(NOT_READS) | OTHER_READS <= found, "stale entries in NOT_READS/OTHER_READS"
