"""The load generator's bookkeeping (bench/loadgen.py): a delivery is counted once per
connection and a second copy as a duplicate, and connections spread over several
targets (the nodes of one deployment) round-robin unless a scenario places them.

The generator's counts are what "every message delivered once" in (h), (i) and (j)
rests on, so they are checked here on the worker's own frame handler."""

from __future__ import annotations

import multiprocessing
from types import SimpleNamespace
from typing import Any

import pytest

from bench.loadgen import ConnSpec, Target, Worker, assign_targets
from bench.mix import department_senders
from bench.population import City, Person


def _worker() -> Worker:
    ours, _theirs = multiprocessing.Pipe()
    target = Target("ws://127.0.0.1:1/ws", "http://localhost:1")
    return Worker(0, [target], [], ours)


def _connection() -> Any:
    """What on_text reads of a connection: whether it is measured, the kernel's arrival
    time of its last read, its sender state and the client_ids it has seen."""
    return SimpleNamespace(measured=True, arrived_ns=0, sender=None, seen=set())


def _message(client_id: str) -> bytes:
    return (b'{"type":"message","channel_id":3,"seq":1,"client_id":"'
            + client_id.encode() + b'","body":"x"}')


def test_a_second_copy_of_a_message_is_a_duplicate_not_a_delivery() -> None:
    worker, phone = _worker(), _connection()
    for client_id in ("b1000-0-1-1", "b1000-0-1-2", "b1000-0-1-1"):
        worker.on_text(phone, _message(client_id))
    assert worker.stats.delivered == 2
    assert worker.stats.duplicates == 1
    assert len(worker.stats.arrivals_ns) == 2  # a duplicate adds no latency sample


def test_the_same_message_to_two_connections_is_two_deliveries() -> None:
    worker, one, two = _worker(), _connection(), _connection()
    worker.on_text(one, _message("b1000-0-1-1"))
    worker.on_text(two, _message("b1000-0-1-1"))
    assert (worker.stats.delivered, worker.stats.duplicates) == (2, 0)


def test_connections_are_dealt_round_robin_over_the_targets() -> None:
    specs = [ConnSpec([1]) for _ in range(5)]
    assert [s.target for s in assign_targets(specs, 2)] == [0, 1, 0, 1, 0]
    assert [s.target for s in assign_targets(specs, 1)] == [0] * 5


def test_a_placed_connection_keeps_its_target_and_a_wrong_one_is_refused() -> None:
    specs = [ConnSpec([1], target=1), ConnSpec([1]), ConnSpec([1], target=0)]
    assert [s.target for s in assign_targets(specs, 2)] == [1, 1, 0]
    with pytest.raises(ValueError):
        assign_targets([ConnSpec([1], target=2)], 2)


def test_fifty_senders_over_35_channels_are_one_or_two_per_channel() -> None:
    city = City("sqlite+aiosqlite://", var_dir=None)  # type: ignore[arg-type]
    for d in range(35):
        code = f"M{d:02d}"
        city.department_channel[code] = 100 + d
        city.people.extend(Person(f"{d}-{i}", code) for i in range(20))
    senders = department_senders(city.people, city, count=50, rate=9.0)
    per_channel: dict[int, int] = {}
    for s in senders:
        per_channel[s.channel_id] = per_channel.get(s.channel_id, 0) + 1
        assert city.people[s.index].department_code == f"M{s.channel_id - 100:02d}"
    assert len({s.index for s in senders}) == 50
    assert sorted(set(per_channel.values())) == [1, 2] and len(per_channel) == 35
    # Dealt round-robin over two nodes, the senders sit on both, not all on the first.
    on_first = sum(1 for s in senders if s.index % 2 == 0)
    assert on_first in (25, 26)
