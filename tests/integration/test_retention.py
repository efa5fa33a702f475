"""Retention and legal holds on a real server and database: the purge takes exactly what
expired and nothing a hold covers, says so in the audit log, and `audit verify` tells a
lawful purge from a deletion."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from chat.actions import retention as retention_actions
from chat.context import open_context
from chat.domain.dates import JST, parse_moment
from chat.store.db import Database
from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    ManualClock,
    RunningServer,
    auth_headers,
    beside,
    department_channel,
    dev_token,
    post,
    run_tsunagu,
    sql,
    verify,
)
from tests.support.people import SUZUKI, TAKAHASHI, WATANABE

YEAR = 365 * 24 * 3600.0


async def open_direct(server: RunningServer, token: str, other_staff: str) -> int:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        users = await http.get("/api/users", params={"q": other_staff},
                               headers=auth_headers(token))
        other = next(u for u in users.json()["users"] if u["name"])
        response = await http.post("/api/channels/direct", json={"user_id": other["id"]},
                                   headers=auth_headers(token))
        assert response.status_code == 200, response.text
        return int(response.json()["id"])


def bodies_of(server: RunningServer, ids: list[int]) -> dict[int, tuple[str, Any, int]]:
    """message id → (body, purged_at, number of revisions left)."""
    rows = sql(server, "SELECT m.id, m.body, m.purged_at, (SELECT count(*) FROM "
                       "message_revisions r WHERE r.message_id = m.id) FROM messages m")
    wanted = set(ids)
    return {row[0]: (row[1], row[2], row[3]) for row in rows if row[0] in wanted}


def run_in_process(server: RunningServer, clock: ManualClock, job: Any) -> Any:
    """Run an action beside the server with the injected ``clock``."""
    from tests.support import in_own_thread

    async def main() -> Any:
        async with open_context(beside(server.settings), clock=clock) as ctx:
            return await job(ctx)

    return in_own_thread(lambda: asyncio.run(main()))


def purge_two_years_later(server: RunningServer, channel_kind: str) -> Any:
    """Keep ``channel_kind`` channels one year, then run the purge two years from now."""
    later = ManualClock()
    later.advance(2 * YEAR)

    async def purge(ctx: Any) -> Any:
        await retention_actions.set_policy(ctx, channel_kind=channel_kind, keep_years=1,
                                           by="test")
        return await retention_actions.run_retention(ctx, by="test")

    return run_in_process(server, later, purge)


def audit_details(server: RunningServer, action: str) -> list[dict[str, Any]]:
    return [json.loads(row[0]) for row in sql(
        server, "SELECT detail FROM audit_events WHERE action = :a ORDER BY seq", a=action)]


async def test_the_purge_takes_exactly_what_expired_and_nothing_under_hold(
        make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    # Four years ago: 総務部 (kept forever), TAKAHASHI's direct chat with SUZUKI (held),
    # 市民部 (three years), and a day there covered by a date-range hold.
    start = clock.now()
    clock.set(start - timedelta(days=4 * 365))
    dept, old_dept = await post(server, SUZUKI, ["古い連絡 1", "古い連絡 2", "古い連絡 3"])
    other_dept, old_other = await post(server, WATANABE, ["旧年度の予算メモ"])
    token = await dev_token(server, TAKAHASHI)
    direct = await open_direct(server, token, "鈴木")
    _, old_direct_from_takahashi = await post(server, TAKAHASHI, ["直接の相談"], channel=direct)
    clock.advance(24 * 3600)
    _, old_held_by_date = await post(server, WATANABE, ["保全期間中の発言"])
    # An old message edited twice: all its revisions must go together.
    client = await ChatClient.connect(server, await dev_token(server, WATANABE))
    await client.send({"type": "edit", "message_id": old_other[0], "body": "予算メモ（改）"})
    await client.expect("ok")
    await client.close()
    # Two years ago: not expired under a three-year period.
    clock.set(start - timedelta(days=2 * 365))
    _, recent = await post(server, WATANABE, ["最近の連絡"])
    clock.set(start)

    # Holds name Japan days: the day of the second old post, as Japan counts it.
    day_of_hold = (start - timedelta(days=4 * 365 - 1)).astimezone(JST).date().isoformat()

    async def configure(ctx: Any) -> None:
        await retention_actions.set_policy(ctx, channel_kind="department", keep_years=3,
                                           by="test")
        await retention_actions.set_policy(ctx, channel_kind="direct", keep_years=1,
                                           by="test")
        # One department keeps everything forever: its channel's policy wins.
        await retention_actions.set_policy(ctx, channel_id=dept, keep_years=None, by="test")
        await retention_actions.place_hold(ctx, reason="情報公開請求 R8-12", by="test",
                                           staff_number=SUZUKI)
        await retention_actions.place_hold(
            ctx, reason="監査対象期間", by="test", channel_id=other_dept,
            starts_at=parse_moment(day_of_hold, name="since"),
            ends_at=parse_moment(day_of_hold, name="until", end_of_day=True))

    run_in_process(server, clock, configure)
    dry = run_in_process(server, clock, lambda ctx: retention_actions.run_retention(
        ctx, by="test", dry_run=True))
    assert dry.purged_messages == 1 and dry.purged_revisions == 0
    assert bodies_of(server, old_other)[old_other[0]][1] is None  # a dry run purges nothing

    report = run_in_process(server, clock, lambda ctx: retention_actions.run_retention(
        ctx, by="test", batch_size=1))
    # Expired: the other department's two old messages and the direct message. Kept: the
    # forever channel (not even expired), the direct message (SUZUKI's conversation is held)
    # and the message on the held day.
    assert (report.expired, report.purged_messages, report.held) == (3, 1, 2)
    assert report.purged_revisions == 2  # the create and the edit
    after = bodies_of(server, old_dept + old_other + old_direct_from_takahashi + old_held_by_date
                      + recent)
    purged = {mid for mid, (_, purged_at, _) in after.items() if purged_at is not None}
    assert purged == {old_other[0]}
    assert after[old_other[0]][0] == "" and after[old_other[0]][2] == 0
    for kept in old_dept + old_direct_from_takahashi + old_held_by_date + recent:
        body, purged_at, revisions = after[kept]
        assert body and purged_at is None and revisions >= 1

    # The audit log names what went, by id and count, never by content.
    purges = audit_details(server, "retention.purged")
    assert [d["message_ids"] for d in purges] == [[old_other[0]]]
    assert purges[0]["revisions"] == 2 and purges[0]["keep_years"] == 3
    runs = audit_details(server, "retention.run")
    assert runs[-1]["purged_messages"] == 1 and runs[-1]["held"] == 2
    assert runs[0]["dry_run"] is True
    assert "予算" not in json.dumps(purges + runs, ensure_ascii=False)
    assert {d["reason"] for d in audit_details(server, "legal_hold.placed")} == {
        "情報公開請求 R8-12", "監査対象期間"}
    code, output = await verify(server)
    assert code == 0, output

    # Clients see a purged message without text, and cannot edit it back to life.
    client = await ChatClient.connect(server, await dev_token(server, WATANABE))
    await client.send({"type": "resync", "channel_id": other_dept, "after_seq": 0})
    result = await client.expect("resync.result")
    wire = next(m for m in result["messages"] if m["id"] == old_other[0])
    assert wire["body"] == "" and wire["purged_at"] is not None
    await client.send({"type": "edit", "message_id": old_other[0], "body": "復活"})
    assert (await client.expect("error"))["code"] == "message_purged"

    # Releasing the holds lets the next run take the rest; running again purges nothing
    # twice.
    async def release_all(ctx: Any) -> None:
        for hold in await retention_actions.list_holds(ctx):
            await retention_actions.release_hold(ctx, hold["id"], by="test")

    run_in_process(server, clock, release_all)
    second = run_in_process(server, clock, lambda ctx: retention_actions.run_retention(
        ctx, by="test"))
    assert (second.purged_messages, second.held) == (2, 0)
    third = run_in_process(server, clock, lambda ctx: retention_actions.run_retention(
        ctx, by="test"))
    assert third.expired == 0 and third.purged_messages == 0
    assert len(audit_details(server, "legal_hold.released")) == 2
    code, output = await verify(server)
    assert code == 0, output


async def test_cli_policies_holds_and_runs(make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    start = clock.now()
    clock.set(start - timedelta(days=6 * 365))
    _, mine = await post(server, SUZUKI, ["六年前の記録"])
    _, theirs = await post(server, WATANABE, ["六年前の別の記録"])
    clock.set(start)

    result = await run_tsunagu(server, "retention", "set", "--kind", "department", "5年")
    assert result.returncode == 0, result.stderr
    assert "department channels: 5 year(s)" in result.stdout
    bad = await run_tsunagu(server, "retention", "set", "--kind", "department", "0")
    assert bad.returncode == 1 and "1 to 100 years" in bad.stderr
    bad = await run_tsunagu(server, "retention", "set", "--kind", "lobby", "3")
    assert bad.returncode == 1 and "unknown channel kind" in bad.stderr

    shown = await run_tsunagu(server, "retention", "show")
    assert "department channels" in shown.stdout and "expired now: 2 message(s)" in shown.stdout

    placed = await run_tsunagu(server, "hold", "place", "--user", SUZUKI, "--reason", "係争中")
    assert placed.returncode == 0, placed.stderr
    assert f"legal hold 1 placed: person {SUZUKI}" in placed.stdout
    empty = await run_tsunagu(server, "hold", "place", "--reason", "何も指定しない")
    assert empty.returncode == 1 and "must name a person" in empty.stderr
    listed = await run_tsunagu(server, "hold", "list")
    assert "ACTIVE" in listed.stdout and "係争中" in listed.stdout

    run = await run_tsunagu(server, "retention", "run")
    assert run.returncode == 0, run.stderr
    assert "purged 1 message(s)" in run.stdout and "1 kept under legal hold" in run.stdout
    assert "purging:" in run.stderr  # progress
    assert bodies_of(server, mine)[mine[0]][1] is None
    assert bodies_of(server, theirs)[theirs[0]][1] is not None

    released = await run_tsunagu(server, "hold", "release", "1")
    assert released.returncode == 0 and "released" in released.stdout
    again = await run_tsunagu(server, "hold", "release", "1")
    assert again.returncode == 1 and "hold_released" in again.stderr
    run = await run_tsunagu(server, "retention", "run")
    assert "purged 1 message(s)" in run.stdout
    assert bodies_of(server, mine)[mine[0]][1] is not None
    actions = [row[0] for row in sql(server, "SELECT action FROM audit_events ORDER BY seq")]
    for expected in ("retention.policy_set", "legal_hold.placed", "retention.purged",
                     "legal_hold.released", "retention.run"):
        assert expected in actions
    code, output = await verify(server)
    assert code == 0, output


async def test_each_node_runs_the_purge_on_schedule(make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock}, retention_interval_seconds=0.2)
    _, ids = await post(server, SUZUKI, ["すぐ期限切れになる連絡"])

    async def configure(ctx: Any) -> None:
        await retention_actions.set_policy(ctx, channel_kind="department", keep_years=1,
                                           by="test")

    run_in_process(server, clock, configure)
    await asyncio.sleep(0.6)
    assert bodies_of(server, ids)[ids[0]][1] is None  # not expired yet
    clock.advance(YEAR + 2 * 24 * 3600)

    def scheduled_purges() -> list[dict[str, Any]]:
        # The demo city's own department messages expire with this one.
        return [d for d in audit_details(server, "retention.run")
                if d["purged_messages"] >= 1 and d["by"].startswith("scheduler:")]

    for _ in range(100):
        if scheduled_purges():
            break
        await asyncio.sleep(0.1)
    assert len(scheduled_purges()) == 1
    purged = audit_details(server, "retention.purged")
    assert ids[0] in {i for d in purged for i in d["message_ids"]}
    assert all(d["by"].startswith("scheduler:") for d in purged)
    assert bodies_of(server, ids)[ids[0]][1] is not None


async def test_verify_tells_a_deletion_from_a_purge(server: RunningServer) -> None:
    _, ids = await post(server, SUZUKI, ["消される記録", "偽装される記録", "そのまま"])
    sql(server, "DELETE FROM message_revisions WHERE message_id = :m", m=ids[0])
    sql(server, "UPDATE messages SET body = '' WHERE id = :m", m=ids[0])
    code, output = await verify(server)
    assert code == 1
    assert f"message {ids[0]} revision 1 is missing: it was deleted outside a retention run" \
        in output
    # Faking a purge (as an intruder hiding a message would) is caught as well.
    sql(server, "UPDATE messages SET body = '', purged_at = created_at WHERE id = :m",
        m=ids[1])
    sql(server, "DELETE FROM message_revisions WHERE message_id = :m", m=ids[1])
    code, output = await verify(server)
    assert code == 1
    assert f"message {ids[1]}: marked purged but no retention run" in output


async def test_a_purged_call_notice_keeps_no_caller_number(server: RunningServer) -> None:
    from tests.integration.pbx_helpers import make_secret, missed_call

    await missed_call(server, make_secret(server))
    notice_id = sql(server, "SELECT message_id FROM notices")[0][0]
    assert "+81312345678" in sql(server, "SELECT data FROM messages WHERE id = :m",
                               m=notice_id)[0][0]
    report = purge_two_years_later(server, "direct")
    assert report.purged_messages >= 1
    assert sql(server, "SELECT body, data, purged_at IS NOT NULL FROM messages WHERE id = :m",
               m=notice_id)[0] == ("", None, True)
    assert sql(server, "SELECT caller_number FROM notices WHERE message_id = :m",
               m=notice_id)[0][0] is None
    code, output = await verify(server)
    assert code == 0, output


async def test_a_purge_takes_the_photo_with_the_text_and_leaves_the_stamps(
        server: RunningServer) -> None:
    import io

    from PIL import Image

    client = await ChatClient.connect(server, await dev_token(server, WATANABE))
    channel = await department_channel(client)
    token = await dev_token(server, WATANABE)
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 200, 30)).save(picture, "JPEG")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        uploaded = await http.post(f"/api/channels/{channel}/attachments",
                                   content=picture.getvalue(),
                                   headers={**auth_headers(token),
                                            "Content-Type": "image/jpeg"},
                                   params={"share_location": "1"})
    attachment = uploaded.json()["attachment"]
    await client.send({"type": "send", "channel_id": channel, "client_id": "photo-1",
                       "body": "窓口の混雑状況", "attachment_id": attachment["id"]})
    message = (await client.expect("ack"))["message"]
    await client.send({"type": "react", "message_id": message["id"], "emoji": "👍"})
    await client.expect("ok")
    await client.close()
    report = purge_two_years_later(server, "department")
    assert report.purged_attachments >= 1
    assert sql(server, "SELECT count(*) FROM attachments WHERE id = :a",
               a=attachment["id"])[0][0] == 0
    assert sql(server, "SELECT count(*) FROM reactions WHERE message_id = :m",
               m=message["id"])[0][0] == 1
    purges = audit_details(server, "retention.purged")
    assert any(message["id"] in d["message_ids"] and d["attachments"] >= 1 for d in purges)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        gone = await http.get(attachment["url"], headers=auth_headers(token))
    assert gone.status_code == 404
    viewer = await ChatClient.connect(server, await dev_token(server, WATANABE))
    await viewer.send({"type": "resync", "channel_id": channel,
                       "after_seq": message["seq"] - 1})
    wire = (await viewer.expect("resync.result"))["messages"][0]
    assert wire["attachment"] is None and wire["body"] == ""
    assert wire["reactions"] == [{"emoji": "👍", "user_ids": [message["sender_id"]]}]
    code, output = await verify(server)
    assert code == 0, output


async def _wait_for_a_lock_wait(db: Database, seconds: float = 20.0) -> None:
    """Until some transaction waits for a row lock (PostgreSQL)."""
    for _ in range(int(seconds / 0.05)):
        async with db.engine.connect() as look:
            waiting = await look.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"))
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nothing waited for a lock")


async def test_a_purge_meeting_an_edit_locks_as_edits_do(
        make_server: ServerFactory, backend: str) -> None:
    """A purge locks its messages before their channel and the audit head, the order an
    edit takes them in (the message, then a version of its channel, then the head): a
    purge that meets a message being edited waits for it holding neither, so the edit
    goes on (the other way round each held what the other wanted, and PostgreSQL aborted
    one of them as a deadlock), and so do sends to that channel."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    start = clock.now()
    clock.set(start - timedelta(days=4 * 365))
    channel, old = await post(server, WATANABE, ["旧年度の連絡"])
    clock.set(start)

    async def keep_three_years(ctx: Any) -> Any:
        await retention_actions.set_policy(ctx, channel_kind="department", keep_years=3,
                                           by="test")
        return await retention_actions.run_retention(ctx, by="test")

    db = Database(server.settings.database_url)
    try:
        async with db.engine.connect() as editing:
            await editing.execute(text("SET lock_timeout = '10s'"))
            # An edit's first lock (chat/actions/messages.py, _revise).
            await editing.execute(text("SELECT id FROM messages WHERE id = :id FOR UPDATE"),
                                  {"id": old[0]})
            purge = asyncio.ensure_future(asyncio.to_thread(
                run_in_process, server, clock, keep_three_years))
            await _wait_for_a_lock_wait(db)
            # The purge waits for the message; the channel is free for a send...
            _, sent = await asyncio.wait_for(
                post(server, WATANABE, ["本日の連絡"], channel=channel), timeout=10)
            # ... and for the edit's next lock: a version of the channel.
            version = await editing.scalar(text(
                "UPDATE channels SET last_version = last_version + 1 WHERE id = :c "
                "RETURNING last_version"), {"c": channel})
            assert version is not None
            await editing.rollback()
            report = await asyncio.wait_for(purge, timeout=30)
    finally:
        await db.dispose()
    assert report.purged_messages == 1
    after = bodies_of(server, old + sent)
    assert after[old[0]][0] == "" and after[old[0]][1] is not None
    assert after[sent[0]][0] == "本日の連絡"
    code, output = await verify(server)
    assert code == 0, output


async def _upload(server: RunningServer, token: str, channel: int) -> dict[str, Any]:
    import io

    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 30, 30)).save(picture, "JPEG")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        uploaded = await http.post(f"/api/channels/{channel}/attachments",
                                   content=picture.getvalue(),
                                   headers={**auth_headers(token), "Content-Type": "image/jpeg"},
                                   params={"share_location": "1", "lat": "35.1", "lon": "139.2"})
    assert uploaded.status_code == 201, uploaded.text
    return dict(uploaded.json()["attachment"])


async def test_a_photo_uploaded_and_never_sent_goes_after_a_week(
        make_server: ServerFactory) -> None:
    """The retention run removes the photos (and the places they were taken) uploaded
    and never sent for longer than CHAT_UNSENT_UPLOAD_HOURS (a week): audited by id,
    counted by a dry run, and never one that was sent or is younger."""
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    token = await dev_token(server, WATANABE)
    client = await ChatClient.connect(server, token)
    channel = await department_channel(client)
    forgotten = await _upload(server, token, channel)
    sent = await _upload(server, token, channel)
    await client.send({"type": "send", "channel_id": channel, "client_id": "photo-sent",
                       "body": "", "attachment_id": sent["id"]})
    await client.expect("ack")
    await client.close()
    clock.advance(6 * 24 * 3600)
    token = await dev_token(server, WATANABE)
    recent = await _upload(server, token, channel)
    clock.advance(2 * 24 * 3600)  # the first two are 8 days old, the last 2

    def run(dry_run: bool) -> Any:
        return run_in_process(server, clock, lambda ctx: retention_actions.run_retention(
            ctx, by="test", dry_run=dry_run))

    dry = run(True)
    assert (dry.unsent_uploads, dry.unsent_upload_bytes) == (1, forgotten["bytes"])
    assert "would remove 1 photo(s) uploaded and never sent" in dry.summary()
    left = {row[0] for row in sql(server, "SELECT id FROM attachments")}
    assert {forgotten["id"], sent["id"], recent["id"]} <= left

    report = run(False)
    assert (report.unsent_uploads, report.unsent_upload_bytes) == (1, forgotten["bytes"])
    left = {row[0] for row in sql(server, "SELECT id FROM attachments")}
    assert forgotten["id"] not in left and {sent["id"], recent["id"]} <= left
    removed = audit_details(server, "attachment.unsent_removed")
    assert [(d["attachment_ids"], d["attachments"], d["bytes"]) for d in removed] == [
        ([forgotten["id"]], 1, forgotten["bytes"])]
    # Ids and counts, never the place or the picture.
    assert set(removed[0]) == {"by", "run_id", "uploaded_before", "attachment_ids",
                               "uploader_ids", "attachments", "bytes"}
    assert audit_details(server, "retention.run")[-1]["unsent_uploads_removed"] == 1

    # Its uploader can neither fetch nor send it any more; the next run finds nothing.
    token = await dev_token(server, WATANABE)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        gone = await http.get(forgotten["url"], headers=auth_headers(token))
    assert gone.status_code == 404
    client = await ChatClient.connect(server, token)
    await client.send({"type": "send", "channel_id": channel, "client_id": "too-late",
                       "body": "", "attachment_id": forgotten["id"]})
    assert (await client.expect("error"))["code"] == "attachment_not_found"
    await client.close()
    assert run(False).unsent_uploads == 0
    code, output = await verify(server)
    assert code == 0, output
