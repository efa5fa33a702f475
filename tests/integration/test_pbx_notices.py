"""Missed-call notices at websocket clients: to a person's 「電話」 channel and to a
desk-group phone's channel, callers resolved by the directory, repeats collapsing, and
claims racing from two clients (exactly one wins)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.integration.pbx_helpers import (
    SUZUKI,
    SUZUKI_EXT,
    TANAKA,
    TANAKA_EXT,
    YOSHIDA,
    api_post,
    connect,
    history,
    make_secret,
    missed_call,
)
from tests.support import RunningServer, dev_token, run_tsunagu

DESK = "2150"
DIRECTORY_CSV = f"""number,kind,target,name
{DESK},desk,111,庶務係 窓口
03-9999-0000,外線,,県庁 防災課
0451,user,{TANAKA},
"""


async def import_directory(server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "directory.csv"
    path.write_text(DIRECTORY_CSV, encoding="utf-8")
    result = await run_tsunagu(server, "pbx", "directory", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "3 added" in result.stdout


def is_notice(frame: dict[str, Any]) -> bool:
    return frame["message"]["kind"] == "call.missed"


async def test_a_missed_call_becomes_a_notice_in_the_persons_phone_channel(
        server: RunningServer) -> None:
    secret = make_secret(server)
    suzuki = await connect(server, SUZUKI)
    await missed_call(server, secret, reason="busy")
    joined = await suzuki.expect("channel.joined")
    channel = joined["channel"]
    assert channel["kind"] == "direct" and channel["name"] == "電話"
    frame = await suzuki.expect("message", is_notice)
    message = frame["message"]
    assert message["channel_id"] == channel["id"] and message["sender_id"] is None
    assert message["body"].startswith("不在着信：03-1234-5678 から ")
    assert message["body"].endswith("（話し中）")
    card = message["data"]
    assert card["sender"] == "電話" and card["state"] == "open" and card["count"] == 1
    assert card["caller"] == {"number": "+81312345678", "display": "03-1234-5678",
                              "name": None, "tel": "tel:+81312345678"}
    assert card["target"] == {"kind": "user", "name": "鈴木 花子", "extension": SUZUKI_EXT}
    # Notices are searchable text like any message.
    token = await dev_token(server, SUZUKI)
    found = [m["id"] for m in await history(server, token, channel["id"])]
    assert found == [message["id"]]


async def test_repeated_missed_calls_from_one_number_collapse_into_one_notice(
        server: RunningServer) -> None:
    secret = make_secret(server)
    suzuki = await connect(server, SUZUKI)
    await missed_call(server, secret)
    first = (await suzuki.expect("message", is_notice))["message"]
    for count in (2, 3):
        await missed_call(server, secret)
        updated = (await suzuki.expect("message.updated",
                                       lambda f: f["message"]["id"] == first["id"]))["message"]
        assert updated["data"]["count"] == count and updated["revision"] == count
        assert f"不在着信 {count}件：03-1234-5678 から" in updated["body"]
    await suzuki.expect_nothing("message", is_notice, within=0.3)
    # Another caller is another notice; so is the same caller once the first is done.
    await missed_call(server, secret, from_="090-1111-2222")
    other = (await suzuki.expect("message", is_notice))["message"]
    assert other["id"] != first["id"] and other["data"]["count"] == 1
    token = await dev_token(server, SUZUKI)
    done = await api_post(server, token, f"/api/notices/{first['id']}/done")
    assert done.status_code == 200 and done.json()["message"]["data"]["state"] == "done"
    await missed_call(server, secret)
    again = (await suzuki.expect("message", is_notice))["message"]
    assert again["id"] not in {first["id"], other["id"]}
    audit = await run_tsunagu(server, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_callers_are_named_from_extensions_and_the_directory(
        server: RunningServer, tmp_path: Path) -> None:
    secret = make_secret(server)
    await import_directory(server, tmp_path)
    suzuki = await connect(server, SUZUKI)
    tanaka = await connect(server, TANAKA)
    await missed_call(server, secret, from_=TANAKA_EXT, direction="internal")
    internal = (await suzuki.expect("message", is_notice))["message"]
    assert "田中 美咲（内線 2201）" in internal["body"]
    assert internal["data"]["caller"]["tel"] == "tel:2201"
    await missed_call(server, secret, from_="03-9999-0000")
    contact = (await suzuki.expect("message", is_notice))["message"]
    assert contact["data"]["caller"]["name"] == "県庁 防災課"
    # 0451 is a PC asset number used as 田中's extension: their notice, not 鈴木's.
    await missed_call(server, secret, extension="0451")
    mine = (await tanaka.expect("message", is_notice))["message"]
    assert mine["data"]["target"]["name"] == "田中 美咲"
    await suzuki.expect_nothing("message", lambda f: f["message"]["id"] == mine["id"])


async def test_desk_phone_notices_are_claimed_by_exactly_one_member(
        server: RunningServer, tmp_path: Path) -> None:
    secret = make_secret(server)
    await import_directory(server, tmp_path)
    suzuki, yoshida = await connect(server, SUZUKI), await connect(server, YOSHIDA)
    await missed_call(server, secret, extension=DESK)
    notices = [(await c.expect("message", is_notice))["message"] for c in (suzuki, yoshida)]
    notice = notices[0]
    assert notices[1]["id"] == notice["id"]
    assert notice["body"].startswith("【庶務係 窓口（2150）】不在着信：")
    assert notice["data"]["target"]["kind"] == "desk"

    tokens = {SUZUKI: await dev_token(server, SUZUKI), YOSHIDA: await dev_token(server, YOSHIDA)}
    path = f"/api/notices/{notice['id']}/claim"
    results = await asyncio.gather(*[api_post(server, t, path) for t in tokens.values()])
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409]
    winner_staff, loser_staff = (
        (SUZUKI, YOSHIDA) if results[0].status_code == 200 else (YOSHIDA, SUZUKI))
    lost = results[1] if results[0].status_code == 200 else results[0]
    assert lost.json()["error"]["code"] == "already_claimed"
    winner = (results[0] if results[0].status_code == 200 else results[1]).json()["message"]
    claimed_by = winner["data"]["claimed_by"]
    assert winner["data"]["state"] == "claimed"
    # Everyone sees who took it, live.
    for client in (suzuki, yoshida):
        seen = await client.expect("message.updated",
                                   lambda f: f["message"]["id"] == notice["id"])
        assert seen["message"]["data"]["claimed_by"] == claimed_by
        assert seen["message"]["version"] > notice["version"]
    loser, champion = tokens[loser_staff], tokens[winner_staff]
    refused = await api_post(server, loser, f"/api/notices/{notice['id']}/done")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "already_claimed"
    again = await api_post(server, champion, path)
    assert again.status_code == 200        # claiming what you hold changes nothing
    done = await api_post(server, champion, f"/api/notices/{notice['id']}/done")
    assert done.status_code == 200 and done.json()["message"]["data"]["state"] == "done"
    late = await api_post(server, loser, path)
    assert late.status_code == 409 and late.json()["error"]["code"] == "already_done"
    outsider = await api_post(server, await dev_token(server, TANAKA), path)
    assert outsider.status_code == 403 and outsider.json()["error"]["code"] == "not_a_member"
    audit = await run_tsunagu(server, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_only_notices_can_be_claimed(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    group = next(c for c in suzuki.ready["channels"] if c["name"] == "忘年会幹事")["id"]
    text = (await suzuki.send_message(group, "これは普通のメッセージ"))["message"]
    token = await dev_token(server, SUZUKI)
    response = await api_post(server, token, f"/api/notices/{text['id']}/claim")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notice_not_found"


async def test_directory_import_refuses_a_bad_file_whole(
        server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("number,kind,target,name\n2150,desk,999,\n2151,user,nobody,\n",
                    encoding="utf-8")
    result = await run_tsunagu(server, "pbx", "directory", "import", str(path))
    assert result.returncode == 1
    assert "nothing imported" in result.stderr and "line 2" in result.stderr
    assert "line 3" in result.stderr
    listed = await run_tsunagu(server, "pbx", "directory", "list")
    assert "0 number(s)" in listed.stdout
