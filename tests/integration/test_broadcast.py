"""Urgent broadcasts (緊急放送) on real servers: a broadcast reaches a muted member (the
frame and an urgent push that stays), confirmations are counted for the sender, repeats
go only to those who have not confirmed, once per interval even with two nodes, and
only broadcasters may send one."""

from __future__ import annotations

import asyncio
import queue

import pytest

from chat.actions.broadcast import repeat_due_broadcasts, set_broadcast_group
from chat.context import open_context
from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    ManualClock,
    RunningServer,
    api,
    beside,
    dev_token,
    events,
    run_tsunagu,
    user_id,
)
from tests.support.people import ITO, SUZUKI, TANAKA, WATANABE
from tests.support.push import Browser, PushService

FLOOR = "本庁舎3階"






async def repeats_settle(server: RunningServer, count: int) -> None:
    """Wait (bounded) until ``count`` repeats are audited, then a few more sweeps."""
    for _ in range(50):
        if len(events(server, "broadcast.repeated")) >= count:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.8)     # both nodes sweep several more times meanwhile


async def test_a_broadcast_overrides_mute_counts_confirmations_and_repeats_once(
        make_server: ServerFactory, push_service: PushService) -> None:
    clock = ManualClock()
    node = make_server(app_kwargs={"clock": clock}, push_allow_http_loopback=True,
                       broadcast_sweep_seconds=0.1)
    async with open_context(beside(node.settings)) as ctx:
        group = await set_broadcast_group(ctx, FLOOR, staff_numbers=[SUZUKI, TANAKA, WATANABE],
                                          department_codes=[], by="test")
    assert group.members == 3
    tokens = {s: await dev_token(node, s) for s in (ITO, SUZUKI, TANAKA)}
    browsers = {s: Browser.make(push_service, n) for s, n in ((SUZUKI, "suzuki"),
                                                               (TANAKA, "tanaka"))}
    for staff, browser in browsers.items():
        response = await api(node, tokens[staff], "POST", "/api/push/subscriptions",
                             json=browser.subscription())
        assert response.status_code == 201, response.text
    muted = await api(node, tokens[TANAKA], "PUT", f"/api/channels/{group.channel_id}/mute",
                      json={"muted": True})
    assert muted.status_code == 200
    tanaka = await ChatClient.connect(node, tokens[TANAKA])
    suzuki = await ChatClient.connect(node, tokens[SUZUKI])

    targets = (await api(node, tokens[ITO], "GET", "/api/broadcast/targets")).json()
    assert [t["target"] for t in targets["targets"]] == ["all-staff", FLOOR]
    sent = await api(node, tokens[ITO], "POST", "/api/cards/broadcast",
                     json={"text": "3階で火災報知器が作動。階段で避難してください。",
                           "target": FLOOR})
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    assert message["kind"] == "broadcast" and message["channel_id"] == group.channel_id
    assert message["data"]["target"] == FLOOR and message["data"]["text"].startswith("3階")

    # The muted member gets the frame (the phone opens it full screen) and the push.
    frame = await tanaka.expect("message", lambda f: f["message"]["id"] == message["id"])
    assert frame["message"]["kind"] == "broadcast"
    pushes = {}
    for _ in range(2):
        received = await push_service.next()
        pushes[received.name] = received
    assert set(pushes) == {"suzuki", "tanaka"}      # never the sender
    payload = browsers[TANAKA].decrypt(pushes["tanaka"].body)
    assert pushes["tanaka"].headers["urgency"] == "high"
    assert payload["kind"] == "broadcast" and payload["require_interaction"] is True
    assert payload["tag"] == f"broadcast-{message['id']}" and payload["vibrate"]
    assert payload["title"] == "緊急放送：伊藤 大輔"
    sent_event = events(node, "broadcast.sent")[-1]
    assert (sent_event["target"], sent_event["recipients"]) == (FLOOR, 3)

    # A phone that connects now opens it too (from the notification, say).
    missed = (await api(node, tokens[TANAKA], "GET", "/api/broadcast/unconfirmed")).json()
    assert [m["id"] for m in missed["messages"]] == [message["id"]]
    assert (await api(node, tokens[ITO], "GET",
                      "/api/broadcast/unconfirmed")).json()["messages"] == []

    # Suzuki confirms; the sender's count goes up and the readers list names them.
    ito = await ChatClient.connect(node, tokens[ITO])
    await suzuki.send({"type": "confirm", "message_id": message["id"]})
    counted = await ito.expect("confirm.updated", lambda f: f["message_id"] == message["id"])
    assert counted["confirmed_count"] == 1
    readers = (await api(node, tokens[ITO], "GET",
                         f"/api/messages/{message['id']}/readers")).json()
    assert [p["user_id"] for p in readers["confirmed"]] == [user_id(node, SUZUKI)]
    assert events(node, "announcement.confirmed")[-1]["message_id"] == message["id"]
    assert (await api(node, tokens[SUZUKI], "GET",
                      "/api/broadcast/unconfirmed")).json()["messages"] == []

    # Nothing is repeated before the interval; after it, once, to those who have not
    # confirmed (Tanaka's phone and push; Watanabe has neither), though the node
    # sweeps every 0.1 s.
    clock.advance(120)
    await asyncio.sleep(0.5)
    assert events(node, "broadcast.repeated") == []
    clock.advance(61)
    repeat = await tanaka.expect("broadcast.repeated", timeout=10)
    assert (repeat["message_id"], repeat["repeat"]) == (message["id"], 1)
    await repeats_settle(node, 1)
    [repeated] = events(node, "broadcast.repeated")
    assert (repeated["repeat"], repeated["recipients"]) == (1, 2)
    again = await push_service.next()
    assert again.name == "tanaka"
    assert "再通知1回目" in browsers[TANAKA].decrypt(again.body)["title"]
    with pytest.raises(queue.Empty):
        push_service.received.get(timeout=0.3)
    await suzuki.expect_nothing("broadcast.repeated")
    await tanaka.expect_nothing("broadcast.repeated")

    # Tanaka confirms; the next repeat is Watanabe's alone, and of this node and two
    # more racing for it (as other nodes would), exactly one sends it.
    await tanaka.send({"type": "confirm", "message_id": message["id"]})
    await ito.expect("confirm.updated", lambda f: f["confirmed_count"] == 2)
    async with open_context(beside(node.settings), clock=clock) as other, \
            open_context(beside(node.settings), clock=clock) as third:
        clock.advance(181)
        sent_here = await asyncio.gather(repeat_due_broadcasts(other),
                                         repeat_due_broadcasts(third))
    await repeats_settle(node, 2)
    assert sum(sent_here) <= 1
    second = events(node, "broadcast.repeated")
    assert [(e["repeat"], e["recipients"]) for e in second] == [(1, 2), (2, 1)]
    await tanaka.expect_nothing("broadcast.repeated")


async def test_only_broadcasters_send_and_groups_are_set_from_the_cli(
        server: RunningServer) -> None:
    staff = await dev_token(server, SUZUKI)
    refused = await api(server, staff, "POST", "/api/cards/broadcast",
                        json={"text": "テスト"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "broadcast_only"
    assert events(server, "broadcast.sent")[-1]["outcome"] == "refused"
    assert (await api(server, staff, "GET", "/api/broadcast/targets")).status_code == 403

    done = await run_tsunagu(server, "broadcast", "group", "set", FLOOR,
                             "--staff", f"{SUZUKI},{WATANABE}", "--departments", "121")
    assert done.returncode == 0, done.stderr
    assert f"broadcast group {FLOOR}: 3 people" in done.stdout   # 121 防災係: 田中
    listed = await run_tsunagu(server, "broadcast", "group", "list")
    assert f"{FLOOR}\t3 people" in listed.stdout
    unknown = await run_tsunagu(server, "broadcast", "group", "set", "別館", "--staff", "9999")
    assert unknown.returncode == 1 and "9999" in unknown.stderr + unknown.stdout
    [group_set] = events(server, "broadcast.group_set")
    assert group_set["members"] == 3

    manager = await dev_token(server, ITO)
    empty = await api(server, manager, "POST", "/api/cards/broadcast", json={"text": "  "})
    assert empty.status_code == 400
    nowhere = await api(server, manager, "POST", "/api/cards/broadcast",
                        json={"text": "避難", "target": "どこか"})
    assert nowhere.status_code == 404
    everyone = await api(server, manager, "POST", "/api/cards/broadcast",
                         json={"text": "全館に避難指示"})
    assert everyone.status_code == 201
    assert everyone.json()["message"]["data"]["target"] == "全職員"
