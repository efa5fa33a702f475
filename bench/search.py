"""(e) Search: the latency of a Japanese substring search through the real HTTP API
(``GET /api/search/messages``, a passkey session with a DPoP proof on every request) over
a large message table, on SQLite (FTS5 trigram index, LIKE under three characters) and
PostgreSQL (pg_trgm).

The messages are inserted straight into the schema in big batches (the set-up, not what
is measured); on SQLite the FTS triggers fire as for any insert.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from bench import population, targets
from bench.loadgen import percentiles
from bench.population import City
from chat.context import open_context
from chat.store.models import Channel, Message

FRAGMENTS = ["本日の", "窓口の混雑状況を", "共有します。", "会議資料を", "確認してください。",
             "予算案について", "ご意見をお願いします。", "住民票の交付件数は", "通常どおりです。",
             "防災訓練の", "日程が決まりました。", "確定申告の", "相談会を開きます。",
             "庁舎の", "駐車場が満車です。", "来週の", "研修の出欠を", "教えてください。"]
# (query, how often it is planted: None = it occurs through the fragments above)
QUERIES: list[tuple[str, float | None]] = [
    ("防災", None), ("会議", None), ("落雷", 0.0002),  # two characters: LIKE on SQLite
    ("防災訓練", None), ("住民票", None), ("台風接近", 0.0002),  # three or more: trigram
]
RUNS_PER_QUERY = 15


def _body(rng: random.Random) -> str:
    text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(2, 5)))
    for word, rate in QUERIES:
        if rate is not None and rng.random() < rate:
            text += f"{word}に注意してください。"
    return text


def run_search(bench: Any) -> dict[str, Any]:
    total = bench.sizes.search_messages
    rows: list[dict[str, Any]] = []
    setup: dict[str, float] = {}
    for kind in ("sqlite", "postgres"):
        with population.database(kind) as (url, var_dir):
            city = City(url, var_dir)
            population.seed(city, {"S01": 5})
            started = time.perf_counter()
            asyncio.run(_fill(city, total))
            setup[kind] = round(time.perf_counter() - started, 1)
            bench.say(f"  (e) {kind}: {total:,} messages inserted in {setup[kind]}s")
            server = bench.server("tsunagu", city)
            try:
                person = city.people[1]
                asyncio.run(population.sign_in_all(city, [person], base_url=server.http_url))
                found = asyncio.run(_measure(server, person))
            finally:
                server.stop()
            for row in found:
                row["database"] = kind
                rows.append(row)
                bench.say(f"  (e) {kind:8} {row['query']:6} ({row['chars']} chars) "
                          f"{row['hits']:3} hits p50 {row['latency_ms']['p50']} "
                          f"p95 {row['latency_ms']['p95']} ms")
    worst = max(r["latency_ms"]["p95"] for r in rows)
    return {"messages": total, "setup_s": setup, "queries": rows,
            "worst_p95_ms": worst, "target_p95_ms": 100}


async def _fill(city: City, total: int) -> None:
    rng = random.Random(8)
    channels = [city.department_channel["S01"], city.all_staff_channel]
    sender = city.people[0].user_id
    start = datetime.now(UTC) - timedelta(days=365)
    async with open_context(city.settings()) as ctx:
        seqs = dict.fromkeys(channels, 0)
        batch = 20_000
        for offset in range(0, total, batch):
            values = []
            for i in range(offset, min(total, offset + batch)):
                channel_id = channels[i % 2]
                seqs[channel_id] += 1
                values.append({"channel_id": channel_id, "seq": seqs[channel_id],
                               "version": seqs[channel_id], "sender_id": sender,
                               "client_id": f"s{i}", "kind": "text", "body": _body(rng),
                               "revision": 1,
                               "created_at": start + timedelta(seconds=i * 30)})
            async with ctx.db.engine.begin() as conn:
                await conn.execute(insert(Message), values)
        async with ctx.db.engine.begin() as conn:
            for channel_id, seq in seqs.items():
                await conn.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(last_seq=seq, last_version=seq))
            if ctx.db.dialect == "postgresql":
                await conn.exec_driver_sql("ANALYZE messages")


async def _measure(server: targets.Server, person: population.Person) -> list[dict[str, Any]]:
    from chat.client import DeviceKey, TsunaguClient

    assert person.key_pem is not None
    client = TsunaguClient(server.http_url, DeviceKey.from_pem(person.key_pem),
                           origin=f"http://localhost:{server.port}")
    client.token = person.token
    rows = []
    try:
        for query, _ in QUERIES:
            times: list[float] = []
            hits = 0
            for _ in range(RUNS_PER_QUERY):
                started = time.perf_counter()
                response = await client.request("GET", f"/api/search/messages?q={query}")
                times.append(time.perf_counter() - started)
                response.raise_for_status()
                hits = len(response.json()["results"])
            rows.append({"query": query, "chars": len(query), "hits": hits,
                         "latency_ms": percentiles(times, 1e3)})
    finally:
        await client.aclose()
    return rows
