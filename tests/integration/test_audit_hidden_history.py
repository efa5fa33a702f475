"""A writer with database access who hides history (issue 24): entries cut after the last
checkpoint with the head rewound, checkpoints deleted, a message marked deleted in place,
and creation times moved back so the retention run would purge. Each tampering is done
with direct SQL on the test database, then `audit verify` (the action and the CLI) or the
retention run must notice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chat.actions import audit as audit_actions
from chat.actions import retention as retention_actions
from chat.context import open_context
from chat.domain.auditchain import parse_anchors
from tests.support import (
    ManualClock,
    RunningServer,
    beside,
    in_own_thread,
    post,
    run_tsunagu,
    sql,
    verify,
)
from tests.support.people import SUZUKI

YEAR = 365 * 24 * 3600.0


def in_process(server: RunningServer, job: Callable[[Any], Awaitable[Any]], *,
               clock: ManualClock | None = None, **overrides: Any) -> Any:
    """Run an action beside the server (its own thread and loop), settings overridden."""
    async def main() -> Any:
        settings = beside(server.settings).with_overrides(**overrides)
        async with open_context(settings, clock=clock) as ctx:
            return await job(ctx)

    return in_own_thread(lambda: asyncio.run(main()))


def verify_in_process(server: RunningServer, **kwargs: Any) -> Any:
    return in_process(server, lambda ctx: audit_actions.verify_log(ctx, **kwargs))


def checkpoint(server: RunningServer, anchor_file: Path | None = None) -> Any:
    made = in_process(server, audit_actions.make_checkpoint, audit_anchor_file=anchor_file)
    assert made is not None
    return made


async def test_entries_cut_after_the_last_checkpoint_are_caught_by_an_anchor(
        server: RunningServer, tmp_path: Path) -> None:
    """(a) The anchor file (CHAT_AUDIT_ANCHOR_FILE) and `audit anchor --out` keep the
    newest checkpoint outside the database; cutting back past it is caught."""
    await post(server, SUZUKI, ["第一報", "第二報"])
    kept_file = tmp_path / "anchors.jsonl"
    first = checkpoint(server, kept_file)
    kept_end = sql(server, "SELECT max(seq) FROM audit_events")[0][0]
    assert kept_end == first.seq + 1  # the checkpoint's own audit.checkpointed entry
    # Something audited the intruder wants gone: a retention policy change.
    changed = await run_tsunagu(server, "retention", "set", "--kind", "department", "1")
    assert changed.returncode == 0, changed.stderr
    second = checkpoint(server, kept_file)
    assert (first.number, second.number) == (1, 2)
    assert [a.number for a in parse_anchors(kept_file.read_text())] == [1, 2]
    out = tmp_path / "anchor.json"
    written = await run_tsunagu(server, "audit", "anchor", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert f"checkpoint #2 at entry {second.seq}" in written.stdout
    [anchor] = parse_anchors(out.read_text())
    assert (anchor.number, anchor.seq, anchor.hash) == (2, second.seq, second.hash)
    assert (await verify(server, "--anchor", str(out)))[0] == 0

    # The intruder cuts every entry after the first checkpoint's, the second checkpoint
    # with them, and rewinds the head to match.
    sql(server, "DELETE FROM audit_checkpoints WHERE seq > :s", s=first.seq)
    sql(server, "DELETE FROM audit_events WHERE seq > :s", s=kept_end)
    head = sql(server, "SELECT hash FROM audit_events WHERE seq = :s", s=kept_end)[0][0]
    sql(server, "UPDATE audit_head SET seq = :s, hash = :h", s=kept_end, h=head)

    # The database alone cannot tell (documented): the anchors can.
    code, output = await verify(server)
    assert code == 0, output
    code, output = await verify(server, "--anchor", str(out))
    assert code == 1, output
    assert f"anchored checkpoint #2 at entry {second.seq} is no longer in the database" \
        in output
    assert f"the log now ends at entry {kept_end}, before the anchored entry" in output
    report = verify_in_process(server, anchors=parse_anchors(kept_file.read_text()))
    assert report.anchors == 2 and not report.ok
    assert any("#2" in p and "entries were cut" in p for p in report.problems)
    assert not any("#1" in p for p in report.problems), report.problems


async def test_a_deleted_checkpoint_is_caught_in_the_middle_or_all_of_them(
        server: RunningServer) -> None:
    """(b) Checkpoints are numbered, linked, and each named by a sealed entry."""
    for round_ in range(3):
        await post(server, SUZUKI, [f"定時報告 {round_}"])
        checkpoint(server)
    numbers = [row[0] for row in sql(server, "SELECT number FROM audit_checkpoints "
                                             "ORDER BY seq")]
    assert numbers == [1, 2, 3]
    assert (await verify(server))[0] == 0

    sql(server, "DELETE FROM audit_checkpoints WHERE number = 2")
    code, output = await verify(server)
    assert code == 1, output
    assert "checkpoint #3" in output and "#2–#2 were deleted" in output
    assert "checkpoint #2 (entry" in output and "is missing from the database" in output

    sql(server, "DELETE FROM audit_checkpoints")
    report = verify_in_process(server)
    assert report.checkpoints == 0 and not report.ok
    missing = [p for p in report.problems if "is missing from the database" in p]
    assert [p.split()[1] for p in missing] == ["#1", "#2", "#3"], report.problems


async def test_a_message_marked_deleted_in_the_database_is_caught(
        server: RunningServer) -> None:
    """(c) deleted_at set and the text blanked, with no revision and no audit entry."""
    _, ids = await post(server, SUZUKI, ["残す連絡", "消される連絡"])
    hidden = ids[1]
    sql(server, "UPDATE messages SET deleted_at = created_at, body = '' WHERE id = :m",
        m=hidden)
    code, output = await verify(server)
    assert code == 1, output
    assert (f"message {hidden}: marked deleted, but no message.deleted entry records a "
            "deletion") in output
    report = verify_in_process(server)
    assert report.messages >= 2
    assert [p for p in report.problems if p.startswith(f"message {hidden}:")]
    assert not [p for p in report.problems if p.startswith(f"message {ids[0]}:")]


async def test_creation_times_moved_back_are_caught_and_never_purged(
        server: RunningServer) -> None:
    """(d) created_at moved back two years: verify names both messages, and the retention
    run (one-year policy) keeps them instead of purging them as expired, while a lawful
    purge later still takes the untouched ones."""
    _, ids = await post(server, SUZUKI, ["二年前に見せかける", "これも", "正しい記録"])
    backdated = ids[:2]
    for message_id in backdated:
        if server.settings.database_url.startswith("sqlite"):
            sql(server, "UPDATE messages SET created_at = "
                        "strftime('%Y-%m-%d %H:%M:%f', created_at, '-730 days') "
                        "WHERE id = :m", m=message_id)
        else:
            sql(server, "UPDATE messages SET created_at = created_at - interval '730 days' "
                        "WHERE id = :m", m=message_id)
    code, output = await verify(server)
    assert code == 1, output
    for message_id in backdated:
        assert f"message {message_id}: created_at" in output
        assert "the log sealed its creation at" in output

    async def purge(ctx: Any) -> Any:
        await retention_actions.set_policy(ctx, channel_kind="department", keep_years=1,
                                           by="test")
        return await retention_actions.run_retention(ctx, by="test")

    now = in_process(server, purge, clock=ManualClock())
    assert now.expired == 2
    assert now.purged_messages == 0, "moved-back messages were purged as expired"
    assert (now.unvouched, sorted(now.unvouched_ids)) == (2, sorted(backdated))
    assert "KEPT 2 message(s)" in now.summary()
    texts = dict(sql(server, "SELECT id, body FROM messages WHERE id IN (:a, :b)",
                     a=backdated[0], b=backdated[1]))
    assert texts == {backdated[0]: "二年前に見せかける", backdated[1]: "これも"}

    later = ManualClock()
    later.advance(2 * YEAR)
    report = in_process(server, lambda ctx: retention_actions.run_retention(ctx, by="test"),
                        clock=later)
    purged = {row[0] for row in sql(server, "SELECT id FROM messages "
                                            "WHERE purged_at IS NOT NULL")}
    assert ids[2] in purged and not purged & set(backdated)
    assert report.unvouched == 2


async def test_each_new_checkpoint_goes_to_syslog_when_set(server: RunningServer) -> None:
    """CHAT_AUDIT_ANCHOR_SYSLOG: a datagram on the local syslog socket per checkpoint
    (here a socket the test listens on; in production /dev/log)."""
    import socket
    import tempfile

    await post(server, SUZUKI, ["記録"])
    # A short folder: socket paths are limited to 107 bytes.
    with (tempfile.TemporaryDirectory(prefix="anchor", dir="/tmp") as folder,
          socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener):
        path = f"{folder}/log"
        listener.bind(path)
        listener.settimeout(10)
        made = in_process(server, audit_actions.make_checkpoint, audit_anchor_syslog=path)
        datagram = listener.recv(65536).decode()
    assert datagram.startswith("<")  # a syslog priority: authpriv.warning
    [anchor] = parse_anchors(datagram.split("tsunagu audit anchor ", 1)[1].rstrip("\x00"))
    assert (anchor.number, anchor.seq, anchor.hash) == (made.number, made.seq, made.hash)
