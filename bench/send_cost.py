"""What one lone send costs, statement by statement, on SQLite and on PostgreSQL.

    python -m bench.send_cost [--sends 200] [--batch 1] [--only sqlite|postgres]

One sender calls ``send_message`` in-process, one send after another (no concurrency,
so every send is a batch of its own, as at the city-hall peak's 1x rate), and each
repository call on the way is timed: CPU of the event loop's thread and wall time.
This is the floor under scenario (a)'s latency (docs/performance.md). With
``--batch N``, N sends are made together each round, so group commit writes them as one
batch (scenario (d)'s shape); figures stay per message.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSessionTransaction

from bench import population
from bench.population import City
from chat.actions import messages as message_actions
from chat.bus.memory import MemoryBus
from chat.context import open_context
from chat.store.audit import AuditRepository
from chat.store.channels import ChannelRepository
from chat.store.messages import MessageRepository
from chat.store.sends import SendBatchRepository
from chat.store.sqlite_inline import InlineConnection

# (owner, coroutine method); the transaction's end is its commit (the session's, or on
# SQLite straight on the inline connection: Database.inline_write).
TIMED: list[tuple[Any, str]] = [
    (MessageRepository, "by_client_ids"), (ChannelRepository, "with_memberships"),
    (ChannelRepository, "allocate_seqs"), (MessageRepository, "insert_many"),
    (MessageRepository, "insert_revisions"), (ChannelRepository, "advance_reads"),
    (ChannelRepository, "subscriber_mute_flags"), (AuditRepository, "seal"),
    (AsyncSessionTransaction, "__aexit__"), (InlineConnection, "commit"),
    # PostgreSQL's one-statement forms of the above (on SQLite they call them).
    (SendBatchRepository, "look_up"), (MessageRepository, "insert_sent"),
]


class Timings:
    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.wall: defaultdict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str) -> Callable[[], None]:
        """Time ``owner.name`` (a coroutine function); returns the undo."""
        original = getattr(owner, name)

        @functools.wraps(original)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                label = "commit" if name in ("__aexit__", "commit") else name
                self.cpu[label] += time.thread_time() - cpu
                self.wall[label] += time.perf_counter() - wall

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)


async def _measure(city: City, sends: int, batch: int
                   ) -> tuple[int, dict[str, dict[str, float]]]:
    """How many sends were timed (whole rounds of ``batch``), and each call's figures."""
    async with open_context(city.settings()) as beside:
        # A serving node's bus (in process): the CLI's would also write every event to
        # the outbox table, which no node's send does.
        ctx = dataclasses.replace(beside, bus=MemoryBus())
        person = city.people[1]
        actor = person.principal()
        channel_id = city.department_channel[person.department_code]

        async def send(client_id: str) -> None:
            await message_actions.send_message(ctx, actor=actor, channel_id=channel_id,
                                               client_id=client_id,
                                               body="本日の窓口混雑状況を共有します。")

        async def round_of(prefix: str) -> None:
            await asyncio.gather(*(send(f"{prefix}-{k}") for k in range(batch)))

        for n in range(20):                 # warm the statement caches
            await round_of(f"warm-{n}")
        timings = Timings()
        rounds = max(1, sends // batch)
        sends = rounds * batch
        with population.settled_after_setup():  # as `tsunagu serve` settles it
            undo = [timings.wrap(owner, name) for owner, name in TIMED]
            try:
                cpu, wall = time.thread_time(), time.perf_counter()
                for n in range(rounds):
                    await round_of(f"timed-{n}")
                timings.cpu["send (all)"] = time.thread_time() - cpu
                timings.wall["send (all)"] = time.perf_counter() - wall
            finally:
                for restore in undo:
                    restore()
        return sends, {name: {"cpu_ms": round(timings.cpu[name] / sends * 1e3, 3),
                              "wall_ms": round(timings.wall[name] / sends * 1e3, 3)}
                       for name in timings.cpu}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.send_cost")
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1,
                        help="sends made together each round (one group-commit batch)")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    for kind, city in population.seeded_cities(args.only):
        sent, figures = asyncio.run(_measure(city, args.sends, args.batch))
        shape = ("a lone send" if args.batch == 1 else
                 f"batches of {args.batch} sends")
        print(f"{kind}: {shape}, per message ({sent} sends)")
        for name, row in figures.items():
            print(f"  {name:24} CPU {row['cpu_ms']:6.3f} ms   wall {row['wall_ms']:6.3f} ms")


if __name__ == "__main__":
    main()
