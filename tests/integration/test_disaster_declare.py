"""Declaring a disaster or a drill from the phone (HTTP), the console and the CLI: only
crisis staff and admins may; every connection on every node gets ``disaster.changed``
and a new one finds it in ``ready``; every subscribed phone gets an urgent push, after
the commit and never for a refused declaration."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    RunningServer,
    api,
    dev_token,
    events,
    run_tsunagu,
    signed_in,
    sql,
    user_id,
)
from tests.support.people import ITO, SUZUKI, TANAKA, WATANABE, YAMADA
from tests.support.push import Browser, PushService

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')




def make_crisis(server: RunningServer, staff_number: str) -> None:
    sql(server, "UPDATE users SET role = 'crisis' WHERE staff_number = :n", n=staff_number)




async def test_crisis_staff_declare_and_end_a_drill_over_http_and_everyone_sees_it(
        server: RunningServer) -> None:
    make_crisis(server, TANAKA)
    crisis, staff = await dev_token(server, TANAKA), await dev_token(server, SUZUKI)
    watcher = await ChatClient.connect(server, staff)
    assert watcher.ready is not None and watcher.ready["disaster"] is None

    refused = await api(server, staff, "POST", "/api/disaster", json={"name": "台風"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "crisis_only"
    assert (await api(server, staff, "GET", "/api/disaster")).json() == {
        "disaster": None, "may_declare": False}

    declared = await api(server, crisis, "POST", "/api/disaster",
                         json={"name": "総合防災訓練"})       # a drill unless said otherwise
    assert declared.status_code == 201, declared.text
    drill = declared.json()["disaster"]
    assert drill["drill"] is True and drill["title"] == "【訓練】総合防災訓練"
    frame = await watcher.expect("disaster.changed")
    assert frame["disaster"] == drill and frame["ended"] is None

    again = await api(server, crisis, "POST", "/api/disaster", json={"name": "x", "drill": False})
    assert again.status_code == 409 and again.json()["error"]["code"] == "disaster_active"
    assert (await api(server, crisis, "GET", "/api/disaster")).json() == {
        "disaster": drill, "may_declare": True}
    latecomer = await ChatClient.connect(server, await dev_token(server, WATANABE))
    assert latecomer.ready is not None and latecomer.ready["disaster"] == drill

    assert (await api(server, staff, "POST", "/api/disaster/end")).status_code == 403
    ended = await api(server, crisis, "POST", "/api/disaster/end")
    assert ended.status_code == 200 and ended.json()["ended"]["id"] == drill["id"]
    frame = await watcher.expect("disaster.changed")
    assert frame["disaster"] is None and frame["ended"]["ended_at"] is not None
    assert (await latecomer.expect("disaster.changed"))["ended"]["id"] == drill["id"]
    gone = await api(server, crisis, "POST", "/api/disaster/end")
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "no_active_disaster"

    bad = await api(server, crisis, "POST", "/api/disaster", json={"name": "台風", "drill": "no"})
    assert bad.status_code == 400
    [declared_event] = events(server, "disaster.declared")
    [ended_event] = events(server, "disaster.ended")
    assert declared_event["drill"] is True and ended_event["drill"] is True
    assert declared_event["actor"] == user_id(server, TANAKA)
    await watcher.close()
    await latecomer.close()


async def test_a_declaration_on_one_node_reaches_a_connection_on_another(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "postgres":
        pytest.skip("several nodes need a shared bus (Redis)")
    node_a, node_b = make_server(), make_server()
    elsewhere = await ChatClient.connect(node_b, await dev_token(node_b, SUZUKI))
    declared = await api(node_a, await dev_token(node_a, YAMADA), "POST", "/api/disaster",
                         json={"name": "令和8年台風第10号", "drill": False})
    assert declared.status_code == 201, declared.text
    frame = await elsewhere.expect("disaster.changed")
    assert frame["disaster"]["title"] == "令和8年台風第10号"
    assert frame["disaster"]["drill"] is False
    await elsewhere.close()


async def test_every_subscribed_phone_gets_an_urgent_push_that_says_drill(
        make_server: ServerFactory, push_service: PushService) -> None:
    server = make_server(push_allow_http_loopback=True)
    browsers = {staff: Browser.make(push_service, name) for staff, name in (
        (SUZUKI, "suzuki"), (ITO, "ito"), (WATANABE, "watanabe"))}
    for staff, browser in browsers.items():
        token = await dev_token(server, staff)
        response = await api(server, token, "POST", "/api/push/subscriptions",
                             json=browser.subscription())
        assert response.status_code == 201, response.text
    # A muted channel does not matter: a declaration is not a channel's message.
    admin = await dev_token(server, YAMADA)

    async def pushes(count: int) -> dict[str, dict[str, Any]]:
        received = [await push_service.next() for _ in range(count)]
        assert all(r.headers["urgency"] == "high" for r in received)
        by_name = {b.name: b for b in browsers.values()}
        return {r.name: by_name[r.name].decrypt(r.body) for r in received}

    declared = await api(server, admin, "POST", "/api/disaster", json={"name": "総合防災訓練"})
    assert declared.status_code == 201
    payloads = await pushes(3)
    assert set(payloads) == {"suzuki", "ito", "watanabe"}
    for payload in payloads.values():
        assert payload["kind"] == "disaster.declared" and payload["url"] == "/"
        assert payload["title"].startswith("【訓練】") and "訓練です" in payload["body"]

    # A refused declaration wrote nothing, so it pushes nothing.
    refused = await api(server, admin, "POST", "/api/disaster", json={"name": "もう一つ"})
    assert refused.status_code == 409
    await asyncio.sleep(0.5)
    assert push_service.received.empty()

    assert (await api(server, admin, "POST", "/api/disaster/end")).status_code == 200
    ended = await pushes(3)
    assert {p["kind"] for p in ended.values()} == {"disaster.ended"}
    assert all("訓練" in p["title"] for p in ended.values())


async def test_the_cli_declares_reports_and_ends_and_says_what_it_did(
        server: RunningServer) -> None:
    members = await run_tsunagu(server, "disaster", "hq-members", SUZUKI, TANAKA)
    assert members.returncode == 0, members.stderr
    assert f"HQ members set (2): {SUZUKI} {TANAKA}" in members.stdout
    declared = await run_tsunagu(server, "disaster", "declare", "総合防災訓練", "--drill")
    assert declared.returncode == 0, declared.stderr
    assert "declared: drill (訓練)" in declared.stdout and "【訓練】総合防災訓練" in declared.stdout
    status = await run_tsunagu(server, "disaster", "status")
    assert "active: drill (訓練)" in status.stdout and f"{SUZUKI} {TANAKA}" in status.stdout
    # The HQ channel is open with the configured members; a new connection sees the drill.
    suzuki = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    assert suzuki.ready is not None
    assert suzuki.ready["disaster"]["title"] == "【訓練】総合防災訓練"
    assert any(c["name"] == "災害対策本部" for c in suzuki.ready["channels"])
    await suzuki.close()
    twice = await run_tsunagu(server, "disaster", "declare", "台風")
    assert twice.returncode == 1 and "disaster_active" in twice.stderr + twice.stdout
    ended = await run_tsunagu(server, "disaster", "end")
    assert ended.returncode == 0 and "ended: drill (訓練)" in ended.stdout
    status = await run_tsunagu(server, "disaster", "status")
    assert "active: none" in status.stdout and "recent:" in status.stdout


async def test_the_console_page_declares_ends_and_sets_the_hq_members_for_crisis_staff(
        server: RunningServer) -> None:
    make_crisis(server, TANAKA)
    crisis = await signed_in(server, TANAKA)
    async with crisis:
        home = await crisis.request("GET", "/admin")
        assert home.status_code == 200 and 'href="/admin/disaster"' in home.text
        assert "/admin/records/holds" not in home.text     # not a crisis duty
        page = await crisis.request("GET", "/admin/disaster")
        assert page.status_code == 200, page.text
        assert 'data-active="0"' in page.text
        csrf = CSRF.search(page.text)
        assert csrf is not None
        token = csrf.group(1)

        async def post(path: str, **fields: str) -> httpx.Response:
            return await crisis.request("POST", path, data={"csrf_token": token, **fields})

        unknown = await post("/admin/disaster/hq-members", staff_numbers="9999")
        assert unknown.status_code == 400 and "9999" in unknown.text
        saved = await post("/admin/disaster/hq-members", staff_numbers=f"{SUZUKI}、{WATANABE}")
        assert saved.status_code == 200 and "2名" in saved.text
        declared = await post("/admin/disaster/declare", name="総合防災訓練", drill="1")
        assert declared.status_code == 200, declared.text
        assert 'data-active="1" data-drill="1"' in declared.text
        assert "【訓練】総合防災訓練" in declared.text
        twice = await post("/admin/disaster/declare", name="台風")
        assert twice.status_code == 409
        ended = await post("/admin/disaster/end")
        assert ended.status_code == 200 and 'data-active="0"' in ended.text
        assert 'data-drill="1"' in ended.text           # the history row
    members = {n for (n,) in sql(
        server, "SELECT u.staff_number FROM memberships m JOIN users u ON u.id = m.user_id "
                "JOIN channels c ON c.id = m.channel_id WHERE c.slug = 'disaster-hq'")}
    assert {SUZUKI, WATANABE, TANAKA} <= members
    assert events(server, "disaster.hq_members_set")[-1]["actor"] == user_id(server, TANAKA)
