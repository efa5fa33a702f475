"""(e) Search: the latency of a Japanese substring search through the real HTTP API
(``GET /api/search/messages``, a passkey session with a DPoP proof on every request) over
a large message table, on SQLite and PostgreSQL: words of one and two characters use the
grams index (alembic 0007), longer ones the trigram index (chat/store/search.py); some
words are spelled otherwise in the messages (kana, width, a hyphenated number: the fold
of alembic 0021).

The messages and their first revisions are inserted straight into the schema in big
batches (the set-up, not what is measured); the grams index is then built by the
migration's own backfill, as when a large database is upgraded.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import func, insert, select, update

from bench import population, targets
from bench.loadgen import percentiles
from bench.population import City
from chat.context import open_context
from chat.store.migrations import alembic_config, upgrade
from chat.store.models import Channel, Message, MessageRevision

FRAGMENTS = ["本日の", "窓口の混雑状況を", "共有します。", "会議資料を", "確認してください。",
             "予算案について", "ご意見をお願いします。", "住民票の交付件数は", "通常どおりです。",
             "防災訓練の", "日程が決まりました。", "確定申告の", "相談会を開きます。",
             "庁舎の", "駐車場が満車です。", "来週の", "研修の出欠を", "教えてください。",
             # Katakana, half-width katakana and full-width Latin, found by the fold.
             "システムの", "ﾒｰﾙで", "ＰＤＦを"]
# (query, how often it is planted: None = it occurs through the fragments above)
QUERIES: list[tuple[str, float | None]] = [
    ("窓", None), ("雷", None),  # one character (雷 only in the planted 落雷): grams
    ("防災", None), ("会議", None), ("落雷", 0.0002),  # two characters: grams
    ("防災訓練", None), ("住民票", None), ("台風接近", 0.0002),  # three or more: trigram
    # Folded (chat/domain/search_fold.py): kana and width, two characters and more, and a
    # telephone number planted with hyphens.
    ("ｼｽ", None), ("めー", None), ("pdf", None), ("しすてむ", None), ("カナ", 0.0002),
    ("0312345678", 0.0002),
]
# How a planted query is spelled in the messages, where not as searched.
PLANTED_AS = {"カナ": "ｶﾅ", "0312345678": "03-1234-5678"}
# p95 of 15 runs was the second-worst run: one hiccup of the shared machine set it.
RUNS_PER_QUERY = 50


def _body(rng: random.Random) -> str:
    text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(2, 5)))
    for word, rate in QUERIES:
        if rate is not None and rng.random() < rate:
            text += f"{PLANTED_AS.get(word, word)}に注意してください。"
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
            _fill(city, total, bench.say)
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


# The grams index (alembic 0007) is built after the bulk load by the migration's own
# backfill, as when a large database is upgraded: the index is the one production has,
# and a million messages load without the grams triggers (the trigram ones still fire).
BEFORE_GRAMS = "0006"


def _fill(city: City, total: int, say: Callable[[str], None]) -> None:
    started = time.perf_counter()
    command.downgrade(alembic_config(city.database_url), BEFORE_GRAMS)
    asyncio.run(_insert(city, total, say))
    loaded = time.perf_counter()
    upgrade(city.database_url)
    indexed = time.perf_counter()
    asyncio.run(_analyze(city))
    say(f"  (e) loaded in {loaded - started:.0f}s, grams index built in "
        f"{indexed - loaded:.0f}s")


async def _insert(city: City, total: int, say: Callable[[str], None]) -> None:
    """``total`` messages, each with its first revision (what the send path stores), in
    two channels the searcher belongs to. On SQLite the trigram triggers of 0001 fire."""
    rng = random.Random(8)
    channels = [city.department_channel["S01"], city.all_staff_channel]
    sender = city.people[0].user_id
    start = datetime.now(UTC) - timedelta(days=365)
    async with open_context(city.settings()) as ctx:
        async with ctx.db.engine.connect() as conn:
            first_id = int(await conn.scalar(select(func.max(Message.id))) or 0) + 1
        seqs = dict.fromkeys(channels, 0)
        batch = 20_000
        for offset in range(0, total, batch):
            messages, revisions = [], []
            for i in range(offset, min(total, offset + batch)):
                channel_id = channels[i % 2]
                seqs[channel_id] += 1
                body = _body(rng)
                at = start + timedelta(seconds=i * 30)
                messages.append({"id": first_id + i, "channel_id": channel_id,
                                 "seq": seqs[channel_id], "version": seqs[channel_id],
                                 "sender_id": sender, "client_id": f"s{i}", "kind": "text",
                                 "body": body, "revision": 1, "created_at": at})
                revisions.append({"message_id": first_id + i, "revision": 1, "action": "create",
                                  "body": body, "actor_id": sender, "created_at": at})
            async with ctx.db.engine.begin() as conn:
                await conn.execute(insert(Message), messages)
                await conn.execute(insert(MessageRevision), revisions)
            if (offset // batch) % 10 == 9:
                say(f"  (e) {offset + batch:,} messages")
        async with ctx.db.engine.begin() as conn:
            for channel_id, seq in seqs.items():
                await conn.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(last_seq=seq, last_version=seq))


async def _analyze(city: City) -> None:
    async with open_context(city.settings()) as ctx, ctx.db.engine.begin() as conn:
        if ctx.db.dialect == "postgresql":
            # What autovacuum does after a load; the planner's word frequencies come
            # from the statistics of the grams expression index.
            await conn.exec_driver_sql("ANALYZE messages")
            await conn.exec_driver_sql("ANALYZE message_revisions")


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
