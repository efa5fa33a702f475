"""What the database work of one websocket connect costs, call by call.

    python -m bench.connect_cost [--connects 300] [--only sqlite|postgres]

In-process, one connect after another (no socket): the calls a ``ClientSession`` makes
between the ``auth`` frame and the ``ready`` frame — the session check with its DPoP
proof, the user's channel ids, the channel list, the call presence snapshot — each timed
as CPU of the event loop's thread, CPU of the whole process (aiosqlite's threads
included) and wall time. Scenario (c)'s CPU per connect is this plus the socket's and
the hub's share (docs/performance.md). The call presence read is timed as such; a
serving node shares one such read between the connects of a second or so
(``Hub.call_presence``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from bench import population
from bench.population import City
from chat.actions.call_presence import call_presence
from chat.actions.channels import list_channels
from chat.auth.policy import PolicySource
from chat.auth.proofs import ProofService
from chat.auth.replay import MemoryReplayCache
from chat.auth.sessions import Presented, authenticate
from chat.client.device import DeviceKey
from chat.context import open_context
from chat.store.uow import TxMode, unit_of_work

WS_URL = "ws://127.0.0.1:8000/ws"


class Timings:
    def __init__(self) -> None:
        self.loop: defaultdict[str, float] = defaultdict(float)
        self.process: defaultdict[str, float] = defaultdict(float)
        self.wall: defaultdict[str, float] = defaultdict(float)

    async def timed(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        loop, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
        try:
            return await call()
        finally:
            self.loop[name] += time.thread_time() - loop
            self.process[name] += time.process_time() - process
            self.wall[name] += time.perf_counter() - wall


async def _measure(city: City, connects: int) -> dict[str, dict[str, float]]:
    people = city.people[:connects]
    await population.mint_sessions(city, people)
    keys = [DeviceKey.from_pem(p.key_pem) for p in people if p.key_pem is not None]
    async with open_context(city.settings()) as bare:
        # What a serving node's lifespan adds (chat.app): proofs and the hours policy.
        proofs = ProofService(bare.settings, bare.secrets, MemoryReplayCache())
        ctx = dataclasses.replace(bare, proofs=proofs, policy=PolicySource(
            bare.db, bare.clock, enabled=bare.settings.off_hours_policy))

        async def connect(index: int, timings: Timings) -> None:
            person, key = people[index], keys[index]
            proof = key.proof("GET", WS_URL, nonce=proofs.nonce(ctx.clock.now()),
                              access_token=person.token, iat=int(time.time()))
            principal = await timings.timed("authenticate", lambda: authenticate(
                ctx, Presented(token=person.token or "", scheme="frame", proof=proof,
                               method="GET", url=WS_URL, remote="127.0.0.1")))

            async def channel_ids() -> Any:
                async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
                    return await uow.channels.channel_ids_of(principal.user_id)

            await timings.timed("channel_ids_of", channel_ids)
            if ctx.policy is not None:
                await timings.timed("policy.current", ctx.policy.current)
            await timings.timed("list_channels",
                                lambda: list_channels(ctx, actor=principal))
            await timings.timed("call_presence", lambda: call_presence(ctx))

        for index in range(min(20, connects)):      # warm the statement caches
            await connect(index, Timings())
        timings = Timings()
        loop, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
        for index in range(connects):
            await connect(index, timings)
        timings.loop["connect (all)"] = time.thread_time() - loop
        timings.process["connect (all)"] = time.process_time() - process
        timings.wall["connect (all)"] = time.perf_counter() - wall
    return {name: {"loop_ms": round(timings.loop[name] / connects * 1e3, 3),
                   "process_ms": round(timings.process[name] / connects * 1e3, 3),
                   "wall_ms": round(timings.wall[name] / connects * 1e3, 3)}
            for name in timings.loop}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.connect_cost")
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    for kind, city in population.seeded_cities(args.only):
        figures = asyncio.run(_measure(city, args.connects))
        print(f"{kind}: one connect's database work, per connect "
              f"({args.connects} connects, one after another)")
        for name, row in figures.items():
            print(f"  {name:16} loop CPU {row['loop_ms']:6.3f} ms   process CPU "
                  f"{row['process_ms']:6.3f} ms   wall {row['wall_ms']:6.3f} ms")


if __name__ == "__main__":
    main()
