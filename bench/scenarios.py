"""The connection scenarios, each run against Tsunagu and the two baselines with the same
generator: (a) city-hall peak, (b) fanout to one 1,000-member channel, (c) idle
authenticated connections."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import population, targets
from bench.loadgen import ConnSpec, LoadGenerator, PhaseResult, SenderSpec, percentiles
from bench.population import City, Person

KINDS = ("tsunagu", "raw", "starlette")


@dataclass(frozen=True)
class Sizes:
    """What one run measures; ``quick`` for `make bench`, ``full`` for the issue's."""

    name: str
    phase_seconds: float
    fanout_seconds: float
    idle_connections: int
    stored_seconds: float
    search_messages: int
    workers: int = 2


QUICK = Sizes("quick", phase_seconds=4, fanout_seconds=4, idle_connections=1000,
              stored_seconds=4, search_messages=100_000)
FULL = Sizes("full", phase_seconds=20, fanout_seconds=15, idle_connections=10_000,
             stored_seconds=20, search_messages=1_000_000)

# The city of (a) and (b): 14 departments of 50 (the 700 at their desks in (a)) and 300
# more people, so the all-staff channel and the fanout channel hold 1,000.
CITY = {**{f"D{i:02d}": 50 for i in range(1, 15)}, "Z": 300}


def phase_figures(result: PhaseResult, cpu_s: float, duration: float) -> dict[str, Any]:
    sent = sum(result.sent.values())
    return {
        "sent": sent,
        "sent_per_s": round(sent / duration, 1),
        "expected_deliveries": result.expected,
        "deliveries": result.delivered,
        "all_delivered": result.delivered >= result.expected and not result.closed,
        "deliveries_per_s": round(result.delivered / (duration + result.drained_in), 1),
        "latency_ms": percentiles(result.latencies_ns, 1e-6),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_us_per_delivery": round(cpu_s / max(1, result.delivered) * 1e6, 2),
        "errors": result.errors,
        "connections_closed": result.closed,
    }


def ratios(figures: dict[str, dict[str, Any]], paths: list[tuple[str, ...]]
           ) -> dict[str, dict[str, float | None]]:
    """Tsunagu / raw and Tsunagu / starlette for each figure at ``paths``."""
    out: dict[str, dict[str, float | None]] = {}
    for base in ("raw", "starlette"):
        row: dict[str, float | None] = {}
        for path in paths:
            ours, theirs = _dig(figures.get("tsunagu"), path), _dig(figures.get(base), path)
            key = ".".join(path)
            row[key] = (round(ours / theirs, 2)
                        if isinstance(ours, int | float) and isinstance(theirs, int | float)
                        and theirs else None)
        out[f"tsunagu/{base}"] = row
    return out


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


class Bench:
    """Starts servers and generators; remembers where logs go."""

    def __init__(self, sizes: Sizes, log_dir: Path, *, say: Any = print) -> None:
        self.sizes = sizes
        self.log_dir = log_dir
        self.say = say

    def server(self, kind: str, city: City | None, *, deflate: bool = False
               ) -> targets.Server:
        env = city.server_env() if (kind == "tsunagu" and city) else None
        return targets.start(kind, log_dir=self.log_dir, env=env, deflate=deflate)


def specs_for(people: list[Person], kind: str) -> list[ConnSpec]:
    if kind == "tsunagu":
        return [ConnSpec(p.channels, p.token, p.key_pem) for p in people]
    return [ConnSpec(p.channels) for p in people]


# --- (a) city-hall peak, and (b) fanout --------------------------------------------------

def city_hall_senders(people: list[Person], city: City, *, rate: float
                      ) -> list[SenderSpec]:
    """50 senders: one manager posting to the all-staff channel, and in each of the 14
    departments 3 or 4 people posting to their department's channel."""
    senders: list[SenderSpec] = []
    manager = next(i for i, p in enumerate(people) if p.role == "manager")
    senders.append(SenderSpec(manager, city.all_staff_channel, rate))
    by_dept: dict[str, list[int]] = {}
    for i, person in enumerate(people):
        if person.role != "manager":
            by_dept.setdefault(person.department_code, []).append(i)
    depts = sorted(by_dept)
    k = 0
    while len(senders) < 50:
        dept = depts[k % len(depts)]
        index = by_dept[dept][k // len(depts)]
        senders.append(SenderSpec(index, city.department_channel[dept], rate))
        k += 1
    return senders


def run_city_and_fanout(bench: Bench) -> tuple[dict[str, Any], dict[str, Any]]:
    sizes = bench.sizes
    results_a: dict[str, Any] = {}
    results_b: dict[str, Any] = {}
    deflate_b: dict[str, Any] = {}
    with population.database("sqlite") as (url, var_dir):
        city = City(url, var_dir)
        started = time.perf_counter()
        population.seed(city, CITY)
        bench.say(f"  seeded {len(city.people)} staff in {time.perf_counter() - started:.1f}s")
        server = bench.server("tsunagu", city)
        try:
            took = asyncio.run(population.sign_in_all(city, city.people,
                                                      base_url=server.http_url,
                                                      concurrency=16))
        finally:
            server.stop()
        bench.say(f"  {len(city.people)} enrolled and signed in with passkeys "
                  f"in {took:.1f}s")
        desk = [p for p in city.people if p.department_code != "Z"]
        members_a = _members(desk)
        members_b = _members(city.people)
        fan_channel = city.all_staff_channel
        managers = [i for i, p in enumerate(city.people) if p.role == "manager"]
        for kind in KINDS:
            server = bench.server(kind, city)
            try:
                gen = LoadGenerator(server.target(), specs_for(desk, kind),
                                    workers=sizes.workers)
                try:
                    connect = gen.connect()
                    phases = {}
                    for label, rate in (("1x", 1.0), ("10x", 10.0)):
                        cpu0 = server.cpu()
                        res = gen.run_phase(city_hall_senders(desk, city, rate=rate),
                                            sizes.phase_seconds, members_a)
                        phases[label] = phase_figures(res, server.cpu() - cpu0,
                                                      sizes.phase_seconds)
                        bench.say(f"  (a) {kind:9} {label:3}: {_brief(phases[label])}")
                finally:
                    gen.close()
                results_a[kind] = {"connect": connect, "phases": phases,
                                   "rss_mib": round(server.rss() / 2**20, 1)}
            finally:
                server.stop()
            for deflate in (False, True):
                server = bench.server(kind, city, deflate=deflate)
                try:
                    results = deflate_b if deflate else results_b
                    results[kind] = _fanout(bench, server, city, kind, managers,
                                            fan_channel, members_b, deflate=deflate)
                finally:
                    server.stop()
    paths = [("phases", "1x", "latency_ms", "p99"), ("phases", "10x", "latency_ms", "p99"),
             ("phases", "10x", "server_cpu_us_per_delivery")]
    a = {**results_a, "ratios": ratios(results_a, paths)}
    fan_paths = [("server_cpu_us_per_delivery",), ("deliveries_per_s",),
                 ("latency_ms", "p99")]
    b = {**results_b, "ratios": ratios(results_b, fan_paths),
         "permessage_deflate": {**deflate_b, "ratios": ratios(deflate_b, fan_paths)}}
    return a, b


def _fanout(bench: Bench, server: targets.Server, city: City, kind: str,
            managers: list[int], channel: int, members: dict[int, int], *,
            deflate: bool) -> dict[str, Any]:
    """Managers post to the 1,000-member all-staff channel as fast as the server
    acknowledges (each at most 9.5/s, under the per-connection rate limit, and 2
    unacknowledged): the server's fanout at its maximum, paced by the generator."""
    gen = LoadGenerator(server.target(deflate=deflate), specs_for(city.people, kind),
                        workers=bench.sizes.workers)
    try:
        connect = gen.connect()
        senders = [SenderSpec(i, channel, 9.5, window=2) for i in managers]
        cpu0 = server.cpu()
        res = gen.run_phase(senders, bench.sizes.fanout_seconds, members)
        figures = phase_figures(res, server.cpu() - cpu0, bench.sizes.fanout_seconds)
        figures["connect"] = connect
        figures["members"] = members.get(channel, 0)
        bench.say(f"  (b) {kind:9} {'deflate' if deflate else 'plain':7}: {_brief(figures)}")
        return figures
    finally:
        gen.close()


def _members(people: list[Person]) -> dict[int, int]:
    count: dict[int, int] = {}
    for person in people:
        for channel_id in person.channels:
            count[channel_id] = count.get(channel_id, 0) + 1
    return count


def _brief(f: dict[str, Any]) -> str:
    lat = f["latency_ms"]
    return (f"{f['sent_per_s']:7.1f} msg/s {f['deliveries_per_s']:9.1f} deliv/s "
            f"p50 {lat['p50']:7.2f} p99 {lat['p99']:8.2f} ms "
            f"{f['server_cpu_us_per_delivery']:6.2f} us/deliv "
            f"{'ok' if f['all_delivered'] else 'MISSING'} {f['errors'] or ''}")


# --- (c) idle connections ---------------------------------------------------------------

def run_idle(bench: Bench) -> dict[str, Any]:
    n = bench.sizes.idle_connections
    depts = {f"I{i:03d}": 100 for i in range(n // 100)}
    results: dict[str, Any] = {}
    with population.database("sqlite") as (url, var_dir):
        city = City(url, var_dir)
        population.seed(city, depts)
        took = asyncio.run(population.mint_sessions(city, city.people))
        bench.say(f"  (c) {n} sessions minted for generated device keys in {took:.1f}s")
        runs = [("tsunagu", False), ("raw", False), ("starlette", False)]
        if bench.sizes.name == "full":
            runs.append(("tsunagu", True))  # zlib state per connection
        for kind, deflate in runs:
            server = bench.server(kind, city, deflate=deflate)
            try:
                time.sleep(0.5)
                rss0 = server.rss()
                cpu0 = server.cpu()
                gen = LoadGenerator(server.target(deflate=deflate), specs_for(city.people, kind),
                                    workers=bench.sizes.workers)
                try:
                    connect = gen.connect(concurrency=64)
                    cpu_connect = server.cpu() - cpu0
                    time.sleep(2.0)
                    rss1 = server.rss()
                    held = connect["connected"]
                    figures = {
                        "connections": held,
                        "connect": connect,
                        "server_cpu_ms_per_connect": round(cpu_connect / max(1, held) * 1e3,
                                                           3),
                        "rss_before_mib": round(rss0 / 2**20, 1),
                        "rss_after_mib": round(rss1 / 2**20, 1),
                        "kib_per_connection": round((rss1 - rss0) / max(1, held) / 1024, 1),
                    }
                finally:
                    gen.close()
            finally:
                server.stop()
            key = f"{kind}+deflate" if deflate else kind
            results[key] = figures
            bench.say(f"  (c) {key:17}: {held} held, {figures['kib_per_connection']} KiB "
                      f"each, {connect['rate_per_s']:.0f} connects/s, "
                      f"{figures['server_cpu_ms_per_connect']} ms CPU each "
                      f"{connect['errors'] or ''}")
    return {**results, "ratios": ratios(results, [("kib_per_connection",),
                                                   ("server_cpu_ms_per_connect",),
                                                   ("connect", "rate_per_s")])}
