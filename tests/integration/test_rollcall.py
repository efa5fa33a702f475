"""Safety roll calls (安否確認) on a real server: HQ starts one during a drill, everyone
gets the card and a push, people in several departments answer, the HQ connection sees
the tally live, an answer sent twice is stored once, reminders reach only those who have
not answered, and the CSV and the CLI say the same as the tally."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat.actions.disaster import declare_disaster, set_hq_members
from chat.context import open_context
from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    RunningServer,
    api,
    beside,
    dev_token,
    events,
    run_tsunagu,
    sql,
    verify,
)
from tests.support.people import ITO, NAKAMURA, SUZUKI, TANAKA, WATANABE


class PushInbox:
    """A push service (RFC 8030) on a loopback port that notes whose endpoint got a push."""

    def __init__(self) -> None:
        self.received: queue.Queue[str] = queue.Queue()
        app = Starlette(routes=[Route("/push/{name}", self._push, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "push service did not start"
            time.sleep(0.02)

    async def _push(self, request: Request) -> Response:
        await request.body()
        self.received.put(request.path_params["name"])
        return Response(status_code=201)

    async def names(self, count: int, *, quiet: float = 0.5) -> list[str]:
        """``count`` pushes' names, then nothing more for ``quiet`` seconds."""
        got = [await asyncio.to_thread(self.received.get, True, 10) for _ in range(count)]
        await asyncio.sleep(quiet)
        assert self.received.empty(), f"unexpected push to {self.received.get()}"
        return sorted(got)

    def subscription(self, name: str) -> dict[str, Any]:
        public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.origin}/push/{name}",
                "keys": {"p256dh": _b64(public), "auth": _b64(os.urandom(16))}}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def push_inbox() -> Iterator[PushInbox]:
    inbox = PushInbox()
    yield inbox
    inbox.stop()




async def drill_with_hq(server: RunningServer) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [ITO], by="test")
        await declare_disaster(ctx, name="総合防災訓練", drill=True, by="test")


async def tally_where(hq: ChatClient, answered: int) -> dict[str, Any]:
    frame = await hq.expect("rollcall.tally", lambda f: f["tally"]["answered"] == answered)
    return dict(frame["tally"])


def row_of(tally: dict[str, Any], department: str) -> dict[str, int]:
    [row] = [r for r in tally["departments"] if r["department"] == department]
    return dict(row["counts"])


async def test_a_drill_roll_call_is_answered_across_departments_and_hq_watches_live(
        make_server: ServerFactory, push_inbox: PushInbox) -> None:
    server = make_server(push_allow_http_loopback=True)
    await drill_with_hq(server)
    tokens = {s: await dev_token(server, s) for s in (ITO, SUZUKI, TANAKA, WATANABE,
                                                      NAKAMURA)}
    for staff in (SUZUKI, NAKAMURA):
        assert (await api(server, tokens[staff], "POST", "/api/push/subscriptions",
                           json=push_inbox.subscription(staff))).status_code == 201
    hq = await ChatClient.connect(server, tokens[ITO])
    phone = await ChatClient.connect(server, tokens[SUZUKI])

    refused = await api(server, tokens[WATANABE], "POST", "/api/rollcalls",
                         json={"text": "安否を回答してください"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "hq_only"
    started = await api(server, tokens[ITO], "POST", "/api/rollcalls",
                         json={"text": "全職員は安否を回答してください", "deadline_minutes": 30})
    assert started.status_code == 201, started.text
    rollcall = started.json()["rollcall"]
    assert rollcall["drill"] is True and rollcall["title"] == "【訓練】安否確認"
    rid = rollcall["id"]

    # The card reaches the all-staff channel; the push reaches everyone subscribed.
    card = (await phone.expect("message", lambda f: f["message"]["kind"] == "rollcall"))
    assert card["message"]["sender_id"] is None
    assert card["message"]["data"]["rollcall_id"] == rid
    assert card["message"]["data"]["title"] == "【訓練】安否確認"
    assert await push_inbox.names(2) == sorted([SUZUKI, NAKAMURA])

    # Answers from three departments; the HQ connection sees each live.
    answers = [(SUZUKI, {"status": "safe"}, "庶務係"),
               (TANAKA, {"status": "injured", "note": "=1+1 足を捻挫",
                         "position": {"lat": 35.6812, "lon": 139.7671, "accuracy": 18}},
                "防災係"),
               (WATANABE, {"status": "safe_cannot_come"}, "住民記録係")]
    for n, (staff, body, department) in enumerate(answers, start=1):
        response = await api(server, tokens[staff], "POST", f"/api/rollcalls/{rid}/answer",
                              json=body)
        assert response.status_code == 200, response.text
        tally = await tally_where(hq, n)
        assert row_of(tally, department)[body["status"]] == 1
    assert tally["total"] == 12 and tally["counts"]["unanswered"] == 9
    assert any(p["name"].startswith("中村") and p["bu"] == "建設部"
               for p in tally["unanswered"])

    # Answering twice stores once; changing the answer replaces it, and the log keeps both.
    again = await api(server, tokens[SUZUKI], "POST", f"/api/rollcalls/{rid}/answer",
                       json={"status": "safe"})
    assert again.status_code == 200
    changed = await api(server, tokens[SUZUKI], "POST", f"/api/rollcalls/{rid}/answer",
                         json={"status": "can_come", "note": "庁舎へ向かいます"})
    assert changed.json()["answer"]["label"] == "出勤可能"
    tally = await hq.expect("rollcall.tally",
                            lambda f: f["tally"]["counts"]["can_come"] == 1)
    assert tally["tally"]["answered"] == 3 and row_of(tally["tally"], "庶務係")["safe"] == 0
    assert sql(server, "SELECT count(*) FROM roll_call_answers WHERE roll_call_id = :r",
               r=rid)[0][0] == 3
    answered = [e for e in events(server, "rollcall.answered") if e["rollcall_id"] == rid]
    assert [(e["status"], e["previous"]) for e in answered][-1] == ("can_come", "safe")
    assert len(answered) == 4 and all(e["drill"] for e in answered)
    mine = (await api(server, tokens[SUZUKI], "GET", f"/api/rollcalls/{rid}")).json()
    assert mine["mine"]["status"] == "can_come" and mine["may_manage"] is False
    assert (await api(server, tokens[ITO], "GET", f"/api/rollcalls/{rid}")).json()[
        "may_manage"] is True

    overview = (await api(server, tokens[ITO], "GET", "/api/rollcalls")).json()
    assert overview["may_start"] is True and overview["latest"]["id"] == rid
    assert (await api(server, tokens[WATANABE], "GET", "/api/rollcalls")).json()[
        "may_start"] is False

    # A reminder reaches only those who have not answered (NAKAMURA, not SUZUKI).
    reminded = await api(server, tokens[ITO], "POST", f"/api/rollcalls/{rid}/remind")
    assert reminded.json() == {"reminded": 9}
    assert await push_inbox.names(1) == [NAKAMURA]
    assert [e["count"] for e in events(server, "rollcall.reminded")] == [9]

    # The CSV: Excel-safe, one row per person, Japan time, a position only if given.
    export = await api(server, tokens[ITO], "GET", f"/api/rollcalls/{rid}/export.csv")
    assert export.status_code == 200 and export.content.startswith(b"\xef\xbb\xbf")
    text = export.content[3:].decode("utf-8")
    assert "\r\n" in text
    rows = {r["staff_number"]: r for r in csv.DictReader(io.StringIO(text))}
    assert len(rows) == 12
    assert rows[SUZUKI]["status_label"] == "出勤可能" and rows[SUZUKI]["latitude"] == ""
    assert rows[SUZUKI]["answered_at_jst"].endswith("+09:00")
    assert rows[TANAKA]["note"] == "'=1+1 足を捻挫"
    assert (rows[TANAKA]["latitude"], rows[TANAKA]["longitude"],
            rows[TANAKA]["accuracy_m"]) == ("35.681200", "139.767100", "18")
    assert rows[NAKAMURA]["status"] == "unanswered" and rows[NAKAMURA]["bu"] == "建設部"
    assert events(server, "rollcall.exported")[-1]["rows"] == 12
    assert (await api(server, tokens[WATANABE], "GET",
                       f"/api/rollcalls/{rid}/export.csv")).status_code == 403

    # The CLI prints the same tally.
    status = await run_tsunagu(server, "rollcall", "status", str(rid))
    assert status.returncode == 0, status.stderr
    assert "【訓練】安否確認" in status.stdout and "回答 3/12" in status.stdout
    assert "負傷 1" in status.stdout and "中村" in status.stdout
    await verify(server)


async def test_the_cli_starts_a_roll_call_and_answers_close_when_it_ends(
        server: RunningServer) -> None:
    started = await run_tsunagu(server, "rollcall", "start", "安否を回答してください",
                                "--deadline", "60")
    assert started.returncode == 0, started.stderr
    assert "started: 安否確認 安否を回答してください" in started.stdout
    rid = int(started.stdout.split()[2])
    [event] = events(server, "rollcall.started")
    assert event["rollcall_id"] == rid and event["drill"] is False and event["people"] == 12
    token = await dev_token(server, SUZUKI)
    bad = await api(server, token, "POST", f"/api/rollcalls/{rid}/answer",
                     json={"status": "fine"})
    assert bad.status_code == 400
    nowhere = await api(server, token, "POST", f"/api/rollcalls/{rid}/answer",
                         json={"status": "safe", "position": {"lat": 200, "lon": 0}})
    assert nowhere.status_code == 400
    assert (await run_tsunagu(server, "rollcall", "end", str(rid))).returncode == 0
    late = await api(server, token, "POST", f"/api/rollcalls/{rid}/answer",
                      json={"status": "safe"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "rollcall_ended"
    status = await run_tsunagu(server, "rollcall", "status")
    assert "回答 0/12" in status.stdout
