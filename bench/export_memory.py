"""Does an auditor export run in bounded memory? Seed N messages, export, measure.

For each size a fresh SQLite database is migrated and seeded with fast bulk inserts
(messages with revisions: some edited, some deleted, a few purged), then exported to
JSON Lines and CSV by the real ``run_export`` in a *separate* process, whose peak RSS
growth during the export is reported. Bounded memory means the 10x larger export uses
about the same memory, not 10x.

    .venv/bin/python -m bench.export_memory --quick     # 5k and 50k messages
    .venv/bin/python -m bench.export_memory             # 20k and 200k messages
    .venv/bin/python -m bench.export_memory --sizes 5000,50000,500000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

USERS = 200
CHANNELS = 50
WORDS = ["防災", "訓練", "避難所", "会議", "資料", "確認", "市民課", "道路", "予算", "連絡",
         "=SUM(A1)", "明日", "午後", "担当", "お願いします", "了解", "報告", "点検"]
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "。"


def seed(db_path: Path, count: int) -> dict[str, int]:
    """Migrate, then bulk-insert users, channels, ``count`` messages and their revisions
    with plain sqlite3 (the application's write path is not what is measured)."""
    from chat.store.migrations import upgrade

    upgrade(f"sqlite+aiosqlite:///{db_path}")
    rng = random.Random(20261201)
    start = datetime(2026, 4, 1, tzinfo=UTC)
    stamp = start.replace(tzinfo=None).strftime(SQLITE_TIME)
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO users (id, staff_number, name, kana, role, is_active, created_at, "
        "updated_at) VALUES (?, ?, ?, '', 'staff', 1, ?, ?)",
        [(i, f"{5000 + i}", f"職員 {i}", stamp, stamp) for i in range(1, USERS + 1)])
    con.executemany(
        "INSERT INTO channels (id, kind, name, last_seq, last_version, created_at) "
        "VALUES (?, 'group', ?, 0, 0, ?)",
        [(i, f"チャンネル{i}", stamp) for i in range(1, CHANNELS + 1)])
    seqs = dict.fromkeys(range(1, CHANNELS + 1), 0)
    revisions = 0

    def messages() -> Iterator[tuple[Any, ...]]:
        for message_id in range(1, count + 1):
            channel = rng.randint(1, CHANNELS)
            seqs[channel] += 1
            at = (start + timedelta(seconds=message_id * 30)).replace(tzinfo=None)
            fate = rng.random()
            edited = at + timedelta(minutes=5) if 0.7 <= fate < 0.9 else None
            deleted = at + timedelta(minutes=9) if fate >= 0.9 else None
            purged = at + timedelta(days=400) if fate < 0.01 else None
            yield (message_id, channel, seqs[channel], seqs[channel], rng.randint(1, USERS),
                   f"b-{message_id}", "" if deleted or purged else _text(rng),
                   1 if fate < 0.7 else 2, at.strftime(SQLITE_TIME),
                   edited and edited.strftime(SQLITE_TIME),
                   deleted and deleted.strftime(SQLITE_TIME),
                   purged and purged.strftime(SQLITE_TIME))

    def revision_rows() -> Iterator[tuple[Any, ...]]:
        nonlocal revisions
        for row in con.execute("SELECT id, sender_id, revision, created_at, edited_at, "
                               "deleted_at, purged_at FROM messages ORDER BY id").fetchall():
            message_id, sender, revision, created, edited, deleted, purged = row
            if purged:
                continue
            revisions += revision
            yield (message_id, 1, "create", _text(rng), sender, created)
            if revision == 2:
                yield (message_id, 2, "delete" if deleted else "edit",
                       "" if deleted else _text(rng), sender, deleted or edited)

    con.executemany(
        "INSERT INTO messages (id, channel_id, seq, version, sender_id, client_id, kind, "
        "body, revision, created_at, edited_at, deleted_at, purged_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'text', ?, ?, ?, ?, ?, ?)", messages())
    con.executemany(
        "INSERT INTO message_revisions (message_id, revision, action, body, actor_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)", revision_rows())
    con.executemany("UPDATE channels SET last_seq = ?, last_version = ? WHERE id = ?",
                    [(s, s, c) for c, s in seqs.items()])
    con.commit()
    con.close()
    return {"messages": count, "revisions": revisions}


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def export(db_path: Path, var_dir: Path) -> dict[str, Any]:
    """Run one export in this (fresh) process; peak RSS growth is measured around it."""
    from chat.actions.exports import run_export, start_export
    from chat.config import Settings
    from chat.context import open_context
    from chat.domain.records import RecordFilters

    settings = Settings(database_url=f"sqlite+aiosqlite:///{db_path}", var_dir=var_dir)

    async def run() -> dict[str, Any]:
        async with open_context(settings) as ctx:
            job = await start_export(ctx, actor="bench", filters=RecordFilters(),
                                     formats=("jsonl", "csv"))
            before = _rss_kib()
            began = time.perf_counter()
            manifest = await run_export(ctx, job_id=job["id"], directory=var_dir / "out")
            elapsed = time.perf_counter() - began
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return {"rss_before_mib": before / 1024, "peak_rss_mib": peak / 1024,
                    "growth_mib": max(0, peak - before) / 1024, "seconds": elapsed,
                    "messages": manifest["counts"]["messages"],
                    "revisions": manifest["counts"]["revisions"],
                    "bytes": sum(f["bytes"] for f in manifest["files"])}

    return asyncio.run(run())


def _child(*args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bench.export_memory", *args],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"child failed: {result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="5k and 50k messages")
    parser.add_argument("--sizes", help="comma-separated message counts")
    parser.add_argument("--seed-into", nargs=2, metavar=("DB", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--export-from", nargs=2, metavar=("DB", "DIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_into:
        print(json.dumps(seed(Path(args.seed_into[0]), int(args.seed_into[1]))))
        return 0
    if args.export_from:
        print(json.dumps(export(Path(args.export_from[0]), Path(args.export_from[1]))))
        return 0
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [5_000, 50_000] if args.quick else [20_000, 200_000])
    results = []
    print(f"{'messages':>9} {'revisions':>9} {'MiB out':>8} {'seconds':>8} "
          f"{'RSS before':>10} {'peak RSS':>9} {'growth':>7}")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
            db = Path(tmp) / "bench.db"
            _child("--seed-into", str(db), str(size))
            r = _child("--export-from", str(db), tmp)
        results.append(r)
        print(f"{r['messages']:>9} {r['revisions']:>9} {r['bytes'] / 2**20:>8.1f} "
              f"{r['seconds']:>8.1f} {r['rss_before_mib']:>9.1f}M {r['peak_rss_mib']:>8.1f}M "
              f"{r['growth_mib']:>6.1f}M")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        ratio = large["messages"] / max(1, small["messages"])
        growth = large["growth_mib"] / max(0.1, small["growth_mib"])
        print(f"{ratio:.0f}x the messages used {growth:.2f}x the memory growth "
              f"({'bounded' if growth < ratio / 3 else 'NOT bounded'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
