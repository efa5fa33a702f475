"""(g) Safety roll call (安否確認): every member of staff answers one roll call within a
few seconds (700 in 10 s by default) through the real HTTP API (a session and a DPoP
proof per request), while one HQ connection watches ``rollcall.tally`` frames.

Measured: that every answer is stored exactly once (one row per person, one
``rollcall.answered`` audit entry per person, although one person in ten sends the
same answer again, as a phone retrying after a lost response does), and the HQ tally's
lag: from the moment a person's answer is sent to the first tally frame the HQ
connection receives in which that person is no longer listed as not having answered
(target: p99 under 1 s). The tally is throttled per roll call (chat/throttle.py, 0.5 s),
so the lag is bounded by the interval plus the time to read and send one tally.

Runs alone: ``python -m bench.rollcall [--people 700 --seconds 10 --database sqlite]``;
``python -m bench.run --only g`` runs it as part of the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import population
from bench.loadgen import GENERATOR_NICE, percentiles, raise_fd_limit
from bench.population import City, Person

TARGET_P99_MS = 1000
RETRY_EVERY = 10   # one person in ten sends the same answer twice
STATUSES = ("safe", "safe_cannot_come", "injured", "can_come")


def departments_for(people: int) -> dict[str, int]:
    """Departments of 50 (the city of scenario (a): 14 of them for 700 people)."""
    full, rest = divmod(people, 50)
    sizes = {f"R{i:02d}": 50 for i in range(1, full + 1)}
    if rest:
        sizes[f"R{full + 1:02d}"] = rest
    return sizes


def run_rollcall(bench: Any, *, people: int = 700, seconds: float = 10.0,
                 database: str = "sqlite") -> dict[str, Any]:
    with population.database(database) as (url, var_dir):
        city = City(url, var_dir)
        population.seed(city, departments_for(people))
        hq_person = city.people[0]
        rollcall_id = asyncio.run(_start_drill(city, hq_person))
        server = bench.server("tsunagu", city)
        try:
            asyncio.run(population.mint_sessions(city, city.people))
            # The phones' CPUs are not the server's: the answering side yields to the
            # server, as the load generator's workers do (bench/loadgen.py).
            os.nice(GENERATOR_NICE)
            figures = asyncio.run(_measure(server, city, hq_person, rollcall_id,
                                           seconds=seconds, say=bench.say))
            stored = asyncio.run(_stored(city, rollcall_id))
        finally:
            server.stop()
    once = stored["rows"] == people == stored["distinct_people"] == stored["audited"]
    return {"database": database, "people": people, "window_s": seconds, **figures,
            "stored": stored, "stored_once": once,
            "target_p99_ms": TARGET_P99_MS,
            "ok": once and figures["all_reflected"]
            and figures["lag_ms"]["p99"] < TARGET_P99_MS}


async def _start_drill(city: City, hq: Person) -> int:
    """A drill declared with ``hq`` on the HQ, and its roll call started (as HQ would,
    from the CLI), before the server starts."""
    from chat.actions.disaster import declare_disaster, set_hq_members
    from chat.actions.rollcall import start_rollcall
    from chat.context import open_context

    async with open_context(city.settings()) as ctx:
        await set_hq_members(ctx, [hq.staff_number], by="bench")
        await declare_disaster(ctx, name="ベンチ訓練", drill=True, by="bench")
        info = await start_rollcall(ctx, text="全職員は安否を回答してください", by="bench")
    return int(info["id"])


def _client(server: Any, person: Person) -> Any:
    from chat.client import DeviceKey, TsunaguClient

    assert person.key_pem is not None
    client = TsunaguClient(server.http_url, DeviceKey.from_pem(person.key_pem),
                           origin=f"http://localhost:{server.port}",
                           ws_url=f"ws://127.0.0.1:{server.port}/ws", timeout=30)
    client.token = person.token
    return client


async def _measure(server: Any, city: City, hq_person: Person, rollcall_id: int, *,
                   seconds: float, say: Any) -> dict[str, Any]:
    clients = {p.user_id: _client(server, p) for p in city.people}
    try:
        # Each phone has loaded the card (its first proof learns the DPoP nonce).
        gate = asyncio.Semaphore(32)

        async def load(client: Any) -> None:
            async with gate:
                (await client.request("GET", f"/api/rollcalls/{rollcall_id}")
                 ).raise_for_status()
        await asyncio.gather(*(load(c) for c in clients.values()))
        ws, _ = await clients[hq_person.user_id].connect()
        sent: dict[int, float] = {}
        reflected: dict[int, float] = {}
        tallies = [0]
        tally_bytes: list[int] = []
        everyone_shown = asyncio.Event()

        async def watch() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") != "rollcall.tally":
                    continue
                now = time.perf_counter()
                tallies[0] += 1
                tally_bytes.append(len(raw))
                waiting = {p["user_id"] for p in frame["tally"]["unanswered"]}
                for user_id in sent.keys() - reflected.keys() - waiting:
                    reflected[user_id] = now
                if len(reflected) == len(clients):
                    everyone_shown.set()

        watcher = asyncio.create_task(watch())
        order = list(clients)
        step = seconds / len(order)
        start = time.perf_counter() + 0.2
        answer_ms: list[float] = []
        failures = [0]
        reconnects = [0]

        async def answer(n: int, user_id: int) -> None:
            await asyncio.sleep(max(0.0, start + n * step - time.perf_counter()))
            body = {"status": STATUSES[n % len(STATUSES)]}
            sent[user_id] = began = time.perf_counter()
            for _ in range(2 if n % RETRY_EVERY == 0 else 1):
                try:
                    response = await clients[user_id].request(
                        "POST", f"/api/rollcalls/{rollcall_id}/answer", json=body)
                except httpx.TransportError:
                    # The server closed the idle keep-alive connection as it was reused
                    # (uvicorn's 5 s): the phone sends again on a new one.
                    reconnects[0] += 1
                    response = await clients[user_id].request(
                        "POST", f"/api/rollcalls/{rollcall_id}/answer", json=body)
                if response.status_code != 200:
                    failures[0] += 1
            answer_ms.append((time.perf_counter() - began) * 1e3)

        server.profile_start()
        cpu_before = server.cpu()
        await asyncio.gather(*(answer(n, u) for n, u in enumerate(order)))
        finished = time.perf_counter()
        server.profile_stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone_shown.wait(), 10)
        server_cpu = server.cpu() - cpu_before
        watcher.cancel()
        await ws.close()
        lags = [reflected[u] - sent[u] for u in reflected]
        figures = {"answers_sent": len(sent), "failed_requests": failures[0],
                   "resent_after_closed_connection": reconnects[0],
                   "sending_took_s": round(finished - start, 2),
                   "answer_request_ms": percentiles(answer_ms),
                   "lag_ms": percentiles(lags, 1e3),
                   "all_reflected": len(reflected) == len(sent),
                   "tally_frames": tallies[0],
                   # Everything the server did meanwhile (answers, auth, tallies), per answer.
                   "server_cpu_ms_per_answer": round(server_cpu / len(sent) * 1e3, 2),
                   "largest_tally_bytes": max(tally_bytes, default=0)}
        say(f"  (g) {len(sent)} answers in {figures['sending_took_s']}s, "
            f"{tallies[0]} tally frames, lag p50 {figures['lag_ms']['p50']} "
            f"p99 {figures['lag_ms']['p99']} ms")
        return figures
    finally:
        await asyncio.gather(*(c.aclose() for c in clients.values()))


async def _stored(city: City, rollcall_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from chat.context import open_context
    from chat.store.models import AuditEvent, RollCallAnswer

    async with open_context(city.settings()) as ctx, ctx.db.engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(RollCallAnswer)
                                 .where(RollCallAnswer.roll_call_id == rollcall_id))
        distinct = await conn.scalar(select(func.count(func.distinct(RollCallAnswer.user_id)))
                                     .where(RollCallAnswer.roll_call_id == rollcall_id))
        audited = await conn.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "rollcall.answered"))
    return {"rows": int(rows or 0), "distinct_people": int(distinct or 0),
            "audited": int(audited or 0)}


def main(argv: list[str] | None = None) -> int:
    from bench.scenarios import QUICK, Bench

    parser = argparse.ArgumentParser(prog="python -m bench.rollcall")
    parser.add_argument("--people", type=int, default=700)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true",
                        help="profile the server while the answers arrive (bench.profiling)")
    args = parser.parse_args(argv)
    raise_fd_limit()
    log_dir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-logs-"))
    bench = Bench(QUICK, log_dir, say=lambda line: print(line, flush=True),
                  profile=args.profile)
    result = run_rollcall(bench, people=args.people, seconds=args.seconds,
                          database=args.database)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
