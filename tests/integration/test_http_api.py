"""The HTTP JSON API: channels with unread counts, history, search, directory, errors."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import ChatClient, RunningServer, auth_headers, dev_token
from tests.support.people import ITO, NAKAMURA, SUZUKI, TANAKA, WATANABE


async def get(server: RunningServer, token: str | None, path: str,
              **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        return await http.get(path, params=params,
                              headers=auth_headers(token) if token else {})


async def post(server: RunningServer, token: str | None, path: str, *,
               content: bytes | str) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers.update(auth_headers(token))
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        return await http.post(path, content=content, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def channels_by_name(server: RunningServer, token: str) -> dict[str, dict[str, Any]]:
    r = await get(server, token, "/api/channels")
    assert r.status_code == 200
    return {c["name"]: c for c in r.json()["channels"]}


async def test_channel_list_shows_unread_counts_and_the_last_message(
        server: RunningServer) -> None:
    suzuki_token, tanaka_token = await dev_token(server, SUZUKI), await dev_token(server, TANAKA)
    suzuki = await ChatClient.connect(server, suzuki_token)
    group = (await channels_by_name(server, suzuki_token))["忘年会幹事"]
    before = (await channels_by_name(server, tanaka_token))["忘年会幹事"]["unread"]
    for body in ("一つ目", "二つ目", "三つ目"):
        await suzuki.send_message(group["id"], body)

    tanaka_view = (await channels_by_name(server, tanaka_token))["忘年会幹事"]
    assert tanaka_view["unread"] == before + 3
    assert tanaka_view["last_message"]["body"] == "三つ目"
    # The sender has read what they wrote.
    assert (await channels_by_name(server, suzuki_token))["忘年会幹事"]["unread"] == 0

    tanaka = await ChatClient.connect(server, tanaka_token)
    await tanaka.send({"type": "read", "channel_id": group["id"],
                       "seq": tanaka_view["last_seq"]})
    await tanaka.expect("read.ok")
    assert (await channels_by_name(server, tanaka_token))["忘年会幹事"]["unread"] == 0


async def test_direct_channel_is_named_after_the_other_person(server: RunningServer) -> None:
    token = await dev_token(server, TANAKA)
    direct = next(c for c in (await get(server, token, "/api/channels")).json()["channels"]
                  if c["kind"] == "direct")
    assert direct["name"] == "鈴木 花子"


async def test_opening_a_direct_chat_twice_gives_the_same_channel(
        server: RunningServer) -> None:
    token = await dev_token(server, ITO)
    users = (await get(server, token, "/api/users", q="渡辺")).json()["users"]
    first = await post(server, token, "/api/channels/direct",
                       content=f'{{"user_id": {users[0]["id"]}}}')
    second = await post(server, token, "/api/channels/direct",
                        content=f'{{"user_id": {users[0]["id"]}}}')
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["name"] == "渡辺 さくら"


async def test_history_pages_backwards_with_read_counts(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await ChatClient.connect(server, token)
    group = (await channels_by_name(server, token))["忘年会幹事"]["id"]
    for i in range(7):
        await suzuki.send_message(group, f"メッセージ{i}")
    newest = (await get(server, token, f"/api/channels/{group}/messages", limit=3)).json()
    assert [m["body"] for m in newest["messages"]] == ["メッセージ4", "メッセージ5", "メッセージ6"]
    assert newest["has_more"] is True
    older = (await get(server, token, f"/api/channels/{group}/messages", limit=3,
                       before_seq=newest["messages"][0]["seq"])).json()
    assert [m["body"] for m in older["messages"]] == ["メッセージ1", "メッセージ2", "メッセージ3"]
    assert all(m["read_count"] == 0 for m in newest["messages"])
    assert newest["member_count"] == 3


@pytest.mark.parametrize("query", ["防災", "防災訓練", "訓練の資料"])
async def test_search_finds_japanese_substrings_of_any_length(
        server: RunningServer, query: str) -> None:
    token = await dev_token(server, ITO)   # 危機管理課: the seeded 防災訓練 message
    results = (await get(server, token, "/api/search/messages", q=query)).json()["results"]
    bodies = [r["body"] for r in results]
    assert "来週の防災訓練の資料を共有フォルダに置きました。" in bodies
    assert all(query in b for b in bodies)


async def test_search_covers_only_the_users_own_channels(server: RunningServer) -> None:
    token = await dev_token(server, NAKAMURA)   # 道路課: not in 危機管理課
    bodies = [r["body"] for r in
              (await get(server, token, "/api/search/messages", q="防災")).json()["results"]]
    assert "来週の防災訓練の資料を共有フォルダに置きました。" not in bodies
    assert "【全庁】12月1日(火) 9時から防災訓練を実施します。" in bodies   # all-staff channel


async def test_search_follows_edits_and_skips_deleted_messages(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await ChatClient.connect(server, token)
    group = (await channels_by_name(server, token))["忘年会幹事"]["id"]
    edited = (await suzuki.send_message(group, "予算は三千円"))["message"]
    deleted = (await suzuki.send_message(group, "幹事長は未定"))["message"]
    await suzuki.send({"type": "edit", "message_id": edited["id"], "body": "予算は五千円"})
    await suzuki.expect("ok")
    await suzuki.send({"type": "delete", "message_id": deleted["id"]})
    await suzuki.expect("ok")

    async def ids(q: str) -> set[int]:
        r = await get(server, token, "/api/search/messages", q=q)
        return {m["id"] for m in r.json()["results"]}

    assert edited["id"] in await ids("五千円")
    assert edited["id"] not in await ids("三千円")
    assert deleted["id"] not in await ids("幹事長")
    assert deleted["id"] not in await ids("未定")


@pytest.mark.parametrize("query", ["%", "_", "\\", '"', "a%b"])
async def test_search_treats_wildcards_and_quotes_as_plain_text(
        server: RunningServer, query: str) -> None:
    token = await dev_token(server, SUZUKI)
    r = await get(server, token, "/api/search/messages", q=query)
    assert r.status_code == 200
    assert all(query in m["body"] for m in r.json()["results"])


async def test_search_rejects_an_empty_query(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    assert_error(await get(server, token, "/api/search/messages", q="  "), 400, "bad_request")


@pytest.mark.parametrize(("query", "expected"), [
    ("田中", "田中 美咲"), ("たなか", "田中 美咲"), ("防災係", "田中 美咲"),
    ("2201", "田中 美咲"), ("市民課", "山本 翔太"),
])
async def test_directory_finds_people_by_name_kana_department_or_extension(
        server: RunningServer, query: str, expected: str) -> None:
    token = await dev_token(server, SUZUKI)
    users = (await get(server, token, "/api/users", q=query)).json()["users"]
    assert expected in [u["name"] for u in users]
    match = next(u for u in users if u["name"] == expected)
    assert set(match) >= {"id", "kana", "extension", "department", "role"}


async def test_requests_without_a_valid_session_are_401(server: RunningServer) -> None:
    assert_error(await get(server, None, "/api/channels"), 401, "unauthenticated")
    assert_error(await get(server, "forged-token", "/api/channels"), 401, "unauthenticated")


async def test_another_users_channel_is_403_and_unknown_is_404(server: RunningServer) -> None:
    suzuki_token, ito_token = await dev_token(server, SUZUKI), await dev_token(server, ITO)
    group = (await channels_by_name(server, suzuki_token))["忘年会幹事"]["id"]
    assert_error(await get(server, ito_token, f"/api/channels/{group}/messages"),
                 403, "not_a_member")
    assert_error(await get(server, ito_token, "/api/channels/987654/messages"),
                 404, "channel_not_found")
    assert_error(await get(server, ito_token, "/no/such/page"), 404, "not_found")


async def test_malformed_and_oversized_bodies_get_json_errors(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    assert_error(await post(server, token, "/api/channels/group", content="{nope"),
                 400, "malformed_json")
    assert_error(await post(server, token, "/api/channels/group", content='{"name": 5}'),
                 400, "bad_request")
    assert_error(await post(server, token, "/api/channels/group",
                            content='{"name": "x", "member_ids": [' + "1," * 40_000 + "1]}"),
                 413, "body_too_large")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert_error(await http.delete("/api/channels", headers=auth_headers(token)),
                     405, "method_not_allowed")


async def test_bad_query_parameters_are_400(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    group = (await channels_by_name(server, token))["忘年会幹事"]["id"]
    assert_error(await get(server, token, f"/api/channels/{group}/messages", limit="many"),
                 400, "bad_request")
    assert_error(await get(server, token, f"/api/channels/{group}/messages", limit=100_000),
                 400, "bad_request")


async def test_dev_sessions_are_refused_unless_enabled(make_server: ServerFactory) -> None:
    server = make_server(dev_sessions=False)
    r = await post(server, None, "/dev/session", content=f'{{"staff_number": "{SUZUKI}"}}')
    assert_error(r, 403, "dev_sessions_disabled")
    assert_error(await get(server, None, "/dev/users"), 403, "dev_sessions_disabled")


async def test_dev_sessions_are_refused_on_a_non_loopback_bind(
        make_server: ServerFactory) -> None:
    # The setting is on, but the node claims a LAN bind: the dev path must stay shut.
    server = make_server(host="0.0.0.0")
    r = await post(server, None, "/dev/session", content=f'{{"staff_number": "{SUZUKI}"}}')
    assert_error(r, 403, "dev_sessions_disabled")


async def test_health_reports_database_and_bus(server: RunningServer) -> None:
    r = await get(server, None, "/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok" and r.json()["bus"] == "ok"


async def test_pages_carry_a_strict_content_security_policy(server: RunningServer) -> None:
    r = await get(server, None, "/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_a_new_direct_chat_is_announced_under_the_other_persons_name(
        server: RunningServer) -> None:
    ito_token = await dev_token(server, ITO)
    sakura = await ChatClient.connect(server, await dev_token(server, WATANABE))
    assert sakura.ready is not None
    r = await post(server, ito_token, "/api/channels/direct",
                   content=f'{{"user_id": {sakura.ready["user"]["id"]}}}')
    assert r.status_code == 200
    joined = await sakura.expect("channel.joined")
    assert joined["channel"]["name"] == "伊藤 大輔"
    assert joined["channel"]["kind"] == "direct"


async def test_the_favicon_is_served_and_linked_from_the_enroll_and_console_pages(
        server: RunningServer) -> None:
    """A 404 for /favicon.ico was noise in every browser console and access log."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        icon = await http.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
        assert icon.content.startswith(b"\x89PNG")
        for page in ("/", "/enroll", "/admin"):
            html = (await http.get(page, headers={"Accept": "text/html"})).text
            linked = re.search(r'<link rel="icon" href="([^"]+)"', html)
            assert linked, page
            assert (await http.get(linked.group(1))).status_code == 200
