"""The org chart follows people: CSV imports through the CLI, idempotent, with progress,
and department channel memberships that move with a reshuffle."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support import ChatClient, RunningServer, dev_token, run_tsunagu
from tests.support.people import SUZUKI, TANAKA

# The April reshuffle: 鈴木 (庶務係) moves to 防災係; 高橋 leaves; a new hire arrives.
RESHUFFLE = """staff_number,name,kana,department_code,role,extension,active
1002,鈴木 花子,すずき はなこ,121,staff,2202,1
1003,高橋 健,たかはし けん,112,staff,2102,0
2001,新人 一郎,しんじん いちろう,211,staff,3105,1
"""


def channel_names(client: ChatClient) -> set[str]:
    assert client.ready is not None
    return {c["name"] for c in client.ready["channels"]}


async def test_reshuffle_moves_department_channels_and_is_idempotent(
        server: RunningServer, tmp_path: Path) -> None:
    token = await dev_token(server, SUZUKI)
    before = await ChatClient.connect(server, token)
    assert {"庶務係", "総務課", "総務部", "忘年会幹事", "全庁連絡"} <= channel_names(before)
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(RESHUFFLE, encoding="utf-8-sig")   # as Excel saves it

    first = await run_tsunagu(server, "import", "staff", str(csv_file))
    assert first.returncode == 0, first.stderr
    assert "1 created, 0 updated, 1 moved, 1 deactivated, 0 unchanged" in first.stdout
    assert "staff: 3/3 (100%)" in first.stderr   # progress

    after = await ChatClient.connect(server, token)
    names = channel_names(after)
    assert {"防災係", "危機管理課", "総務部", "全庁連絡", "忘年会幹事"} <= names
    assert not {"庶務係", "総務課"} & names   # left the old 係 and 課; kept the group chat

    second = await run_tsunagu(server, "import", "staff", str(csv_file))
    assert second.returncode == 0, second.stderr
    assert "0 created, 0 updated, 0 moved, 0 deactivated, 3 unchanged" in second.stdout
    assert "0 joined, 0 left" in second.stdout

    # The deactivated person can no longer sign in; the new hire can.
    assert (await dev_token(server, "2001"))
    newcomer = await ChatClient.connect(server, await dev_token(server, "2001"))
    assert {"住民記録係", "市民課", "市民部", "全庁連絡"} == channel_names(newcomer)


async def test_a_connected_user_is_moved_live_when_the_bus_crosses_processes(
        server: RunningServer, tmp_path: Path) -> None:
    """On Redis the CLI publishes there; on the in-process bus through the database's
    bus outbox (chat/bus/outbox.py)."""
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(RESHUFFLE, encoding="utf-8")
    result = await run_tsunagu(server, "import", "staff", str(csv_file))
    assert result.returncode == 0, result.stderr
    joined = await client.expect("channel.joined", lambda f: f["channel"]["name"] == "防災係")
    await client.expect("channel.left")
    sender = await ChatClient.connect(server, await dev_token(server, TANAKA))
    await sender.send_message(joined["channel"]["id"], "ようこそ防災係へ")
    assert (await client.expect("message"))["message"]["body"] == "ようこそ防災係へ"


async def test_an_invalid_file_imports_nothing_and_lists_every_problem(
        server: RunningServer, tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "staff_number,name,kana,department_code,role,extension,active\n"
        "3001,正しい 人,,111,staff,,1\n"
        "3002,,,999,chief,,1\n", encoding="utf-8")
    result = await run_tsunagu(server, "import", "staff", str(csv_file))
    assert result.returncode == 1
    assert "nothing imported" in result.stderr
    assert "line 3: name is empty" in result.stderr
    assert "line 3: department 999 does not exist" in result.stderr
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        r = await http.post("/dev/session", json={"staff_number": "3001"})
    assert r.status_code == 404   # the valid row was not imported either


async def test_department_import_creates_channels_and_a_reparented_section_moves_people(
        server: RunningServer, tmp_path: Path) -> None:
    csv_file = tmp_path / "departments.csv"
    # 防災係 (121) moves from 危機管理課 (120) to a new 防災課 (130).
    csv_file.write_text(
        "code,name,kana,parent_code,level\n"
        "100,総務部,そうむぶ,,部\n"
        "130,防災課,ぼうさいか,100,課\n"
        "121,防災係,ぼうさいかかり,130,係\n", encoding="utf-8")
    result = await run_tsunagu(server, "import", "departments", str(csv_file))
    assert result.returncode == 0, result.stderr
    assert "1 created, 1 updated" in result.stdout
    assert "1 joined, 1 left" in result.stdout   # 田中: 危機管理課 -> 防災課
    tanaka = await ChatClient.connect(server, await dev_token(server, TANAKA))
    names = channel_names(tanaka)
    assert {"防災係", "防災課", "総務部"} <= names
    assert "危機管理課" not in names


async def test_cli_lists_its_subcommands() -> None:
    result = await run_tsunagu(None, "--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "seed-demo", "import"):
        assert command in result.stdout
