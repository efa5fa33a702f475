"""(d) Persistence: how many messages per second ``send_message`` stores, each with its
revision, its audit entry on the hash chain and its read position, on SQLite and on
PostgreSQL. Concurrent senders call the real action in-process (no websocket, no
fanout: what is measured is the write path), then ``verify_log`` checks the chain is
one and gapless. The garbage collector is settled once the set-up is done
(``population.settled_after_setup``), as ``tsunagu serve`` settles it."""

from __future__ import annotations

import asyncio
import cProfile
import time
from pathlib import Path
from typing import Any

from bench import population
from bench.loadgen import percentiles
from bench.population import City, Person
from chat.actions.audit import verify_log
from chat.actions.messages import SEND_QUEUE, send_message
from chat.auth.sessions import Principal
from chat.context import open_context

# Concurrent senders: as many as one node's group commit batches together at most, and
# a quarter of that (throughput grows with concurrency; latency with the batch).
SENDERS = (64, 256)
CHANNELS = 16


def run_persistence(bench: Any) -> dict[str, Any]:
    runs = []
    most = max(SENDERS)
    for kind in ("sqlite", "postgres"):
        with population.database(kind) as (url, var_dir):
            city = City(url, var_dir)
            population.seed(city, {f"P{i:02d}": most // CHANNELS for i in range(CHANNELS)})
            for senders in SENDERS:
                # Every channel gets its share of senders whatever their number.
                people = city.people[::most // senders]
                # --profile: one cProfile file per run in the log directory, like the
                # servers' profiles (read with `python -m pstats FILE`).
                profile_to = (bench.log_dir / f"d-{kind}-{senders}.prof"
                              if bench.profile else None)
                row = asyncio.run(_drive(city, people, bench.sizes.stored_seconds,
                                         profile_to))
                row["database"] = kind
                row["senders"] = senders
                runs.append(row)
                bench.say(f"  (d) {kind:8} {senders:3} senders: {row['messages']} stored, "
                          f"{row['messages_per_s']:.0f}/s, p99 {row['latency_ms']['p99']} ms,"
                          f" {row['mean_batch']} per transaction, "
                          f"chain {'ok' if row['chain_ok'] else 'BROKEN'}")
    return {"senders": list(SENDERS), "channels": CHANNELS, "runs": runs,
            "target_messages_per_s": 5000}


async def _drive(city: City, people: list[Person], seconds: float,
                 profile_to: Path | None) -> dict[str, Any]:
    profile = cProfile.Profile() if profile_to else None
    async with open_context(city.settings()) as ctx:
        actors = [p.principal() for p in people]
        channel_of = {p.user_id: city.department_channel[p.department_code]
                      for p in people}
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def sender(actor: Principal) -> int:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                await send_message(ctx, actor=actor, channel_id=channel_of[actor.user_id],
                                   client_id=f"d{len(people)}-{actor.user_id}-{n}",
                                   body="本日の窓口混雑状況を共有します。")
                latencies.append(time.perf_counter() - started)
            return n

        with population.settled_after_setup():
            if profile:
                profile.enable()
            started = time.perf_counter()
            counts = await asyncio.gather(*(sender(a) for a in actors))
            elapsed = time.perf_counter() - started
            if profile and profile_to:
                profile.disable()
                profile.dump_stats(profile_to)
        report = await verify_log(ctx)
        stored = sum(counts)
        queue = ctx.group_commits[SEND_QUEUE]
        return {"path": "send_message", "messages": stored,
                "messages_per_s": round(stored / elapsed, 1),
                "transactions": queue.batches,
                "mean_batch": round(queue.requests / max(queue.batches, 1), 1),
                "latency_ms": percentiles(latencies, 1e3),
                "chain_ok": report.ok, "audit_entries": report.entries}
