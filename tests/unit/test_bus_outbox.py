"""The in-process bus across processes (chat/bus/outbox.py): a writer beside a node
publishes locally and into the outbox; a node's relay republishes only rows written
after it started, in order, however many arrive at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chat.bus import BATCH_LIMIT, BusEvent, open_bus
from chat.bus.memory import MemoryBus
from chat.bus.outbox import OutboxRelayBus, OutboxWriterBus


class ListOutbox:
    """The outbox's contract on a list (the database's is tested in
    tests/integration/test_cli_beside_nodes.py)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = []
        self.writes = 0

    async def append(self, events: Sequence[tuple[str, str]]) -> None:
        self.writes += 1
        for topic, data in events:
            self.rows.append((len(self.rows) + 1, topic, data))

    async def last_id(self) -> int:
        return self.rows[-1][0] if self.rows else 0

    async def after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        return [row for row in self.rows if row[0] > last_id][:limit]


def test_the_factory_picks_by_url_and_role() -> None:
    outbox = ListOutbox()
    assert type(open_bus("memory://")) is MemoryBus
    assert isinstance(open_bus("memory://", outbox=outbox), OutboxWriterBus)
    assert isinstance(open_bus("memory://", outbox=outbox, serving=True), OutboxRelayBus)


async def test_a_writer_publishes_locally_and_to_the_outbox() -> None:
    outbox = ListOutbox()
    bus = OutboxWriterBus(outbox)
    subscription = await bus.subscribe()
    await bus.publish("user:1", "a")
    await bus.publish_many([("user:2", "b"), ("channel:3", "c")])
    batch = await anext(subscription.batches())
    assert [e.data for e in batch] == ["a", "b", "c"]
    await bus.close()   # waits for the outbox
    assert [row[1:] for row in outbox.rows] == [("user:1", "a"), ("user:2", "b"),
                                                ("channel:3", "c")]


async def test_a_relay_republishes_only_what_was_written_after_it_started() -> None:
    outbox = ListOutbox()
    await outbox.append([("user:1", "before")])
    node = OutboxRelayBus(outbox, poll_seconds=0.01)
    await node.start()
    subscription = await node.subscribe()
    events = [(f"user:{i}", str(i)) for i in range(BATCH_LIMIT + 5)]
    writer = OutboxWriterBus(outbox)
    for topic, data in events:   # one by one, as an import publishes
        await writer.publish(topic, data)
    await writer.flushed()
    assert outbox.writes == 2   # the row before, then one write for the whole burst
    seen: list[BusEvent] = []
    async with asyncio.timeout(5):
        async for batch in subscription.batches():
            seen.extend(batch)
            if len(seen) >= len(events):
                break
    assert [(e.topic, e.data) for e in seen] == events
    assert await node.poll() == 0   # nothing twice
    await node.close()
    await writer.close()
