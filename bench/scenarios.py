"""The connection scenarios, each run against Tsunagu and the two baselines with the same
generator: (a) city-hall peak, (b) fanout to one 1,000-member channel, (c) idle
authenticated connections, (f) slow clients: some stop reading while the others
receive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
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
    slow_members: int = 200
    slow_seconds: float = 10
    workers: int = 2


QUICK = Sizes("quick", phase_seconds=4, fanout_seconds=4, idle_connections=1000,
              stored_seconds=4, search_messages=100_000, slow_seconds=5)
FULL = Sizes("full", phase_seconds=20, fanout_seconds=15, idle_connections=10_000,
             stored_seconds=20, search_messages=1_000_000, slow_members=500,
             slow_seconds=20)

# The city of (a) and (b): 14 departments of 50 (the 700 at their desks in (a)) and 300
# more people, so the all-staff channel and the fanout channel hold 1,000.
CITY = {**{f"D{i:02d}": 50 for i in range(1, 15)}, "Z": 300}


def phase_figures(result: PhaseResult, cpu: targets.CpuTimes, duration: float
                  ) -> dict[str, Any]:
    sent = sum(result.sent.values())
    per_delivery = 1e6 / max(1, result.delivered)
    return {
        "sent": sent,
        "sent_per_s": round(sent / duration, 1),
        "expected_deliveries": result.expected,
        "deliveries": result.delivered,
        "all_delivered": result.delivered >= result.expected and not result.closed,
        # Copies of a message a connection had already received (expected 0).
        "duplicates": result.duplicates,
        "delivered_once": (result.delivered == result.expected and not result.duplicates
                           and not result.closed),
        "deliveries_per_s": round(result.delivered / (duration + result.drained_in), 1),
        "latency_ms": percentiles(result.latencies_ns, 1e-6),
        "arrival_ms": percentiles(result.arrivals_ns, 1e-6),
        "server_cpu_s": round(cpu.process_s, 3),
        "server_cpu_us_per_delivery": round(cpu.process_s * per_delivery, 2),
        # The event loop's thread alone (the rest ran on other threads, in parallel).
        "server_loop_us_per_delivery": round(cpu.loop_s * per_delivery, 2),
        "errors": result.errors,
        "connections_closed": result.closed,
    }


def ratios(figures: dict[str, dict[str, Any]], paths: Sequence[tuple[str, ...]]
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

    def __init__(self, sizes: Sizes, log_dir: Path, *, say: Any = print,
                 profile: bool = False, database: str = "sqlite") -> None:
        self.sizes = sizes
        self.log_dir = log_dir
        self.say = say
        self.profile = profile
        # What Tsunagu serves (a) and (b) from; the other scenarios say their own.
        self.database = database

    def server(self, kind: str, city: City | None, *, deflate: bool = False
               ) -> targets.Server:
        env = city.server_env() if (kind == "tsunagu" and city) else None
        return targets.start(kind, log_dir=self.log_dir, env=env, deflate=deflate,
                             profile=self.profile and kind == "tsunagu")


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
    with population.database(bench.database) as (url, var_dir):
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
                        cpu0 = server.cpu_times()
                        server.profile_start()
                        res = gen.run_phase(city_hall_senders(desk, city, rate=rate),
                                            sizes.phase_seconds, members_a)
                        server.profile_stop()
                        phases[label] = phase_figures(res, server.cpu_times() - cpu0,
                                                      sizes.phase_seconds)
                        bench.say(f"  (a) {kind:9} {label:3}: {_brief(phases[label])}")
                finally:
                    gen.close()
                results_a[kind] = {"connect": connect, "phases": phases,
                                   "rss_mib": round(server.rss() / 2**20, 1)}
            finally:
                server.stop()
            # permessage-deflate's variant of (b) runs with --full (as (c)'s does): it
            # reconnects all 1,000 for each server, and `make bench` must stay short.
            for deflate in (False, True) if sizes.name == "full" else (False,):
                server = bench.server(kind, city, deflate=deflate)
                try:
                    results = deflate_b if deflate else results_b
                    results[kind] = _fanout(bench, server, city, kind, managers,
                                            fan_channel, members_b, deflate=deflate)
                finally:
                    server.stop()
    paths = [("phases", "1x", "arrival_ms", "p99"), ("phases", "10x", "arrival_ms", "p99"),
             ("phases", "1x", "latency_ms", "p99"), ("phases", "10x", "latency_ms", "p99"),
             ("phases", "10x", "server_cpu_us_per_delivery"),
             ("phases", "10x", "server_loop_us_per_delivery")]
    a = {**results_a, "ratios": ratios(results_a, paths)}
    fan_paths = [("server_cpu_us_per_delivery",), ("deliveries_per_s",),
                 ("arrival_ms", "p99"), ("latency_ms", "p99")]
    b = {**results_b, "ratios": ratios(results_b, fan_paths)}
    if deflate_b:
        b["permessage_deflate"] = {**deflate_b, "ratios": ratios(deflate_b, fan_paths)}
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
        cpu0 = server.cpu_times()
        server.profile_start()
        res = gen.run_phase(senders, bench.sizes.fanout_seconds, members)
        server.profile_stop()
        figures = phase_figures(res, server.cpu_times() - cpu0, bench.sizes.fanout_seconds)
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
    lat, arr = f["latency_ms"], f["arrival_ms"]
    return (f"{f['sent_per_s']:7.1f} msg/s {f['deliveries_per_s']:9.1f} deliv/s "
            f"arrival p50 {arr['p50']:6.2f} p99 {arr['p99']:7.2f}, "
            f"read p50 {lat['p50']:6.2f} p99 {lat['p99']:7.2f} ms "
            f"{f['server_cpu_us_per_delivery']:6.2f} us/deliv "
            f"(loop {f['server_loop_us_per_delivery']:6.2f}) "
            f"{'ok' if f['all_delivered'] else 'MISSING'} {f['errors'] or ''}")


# --- (c) idle connections ---------------------------------------------------------------

def run_idle(bench: Bench) -> dict[str, Any]:
    """Hold ``idle_connections`` authenticated connections, opened in two halves: the
    memory per connection over all of them (what the target counts), and over the second
    half alone (the cost of one more connection, without what the server set up on
    first use: caches, imports, pools; at 1,000 connections that is a quarter of it)."""
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
            specs = specs_for(city.people, kind)
            halves = [specs[:len(specs) // 2], specs[len(specs) // 2:]]
            server = bench.server(kind, city, deflate=deflate)
            gens: list[LoadGenerator] = []
            try:
                time.sleep(0.5)
                rss = [server.rss()]
                cpu = [server.cpu()]
                connects = []
                server.profile_start()
                for half in halves:
                    gens.append(LoadGenerator(server.target(deflate=deflate), half,
                                              workers=bench.sizes.workers))
                    connects.append(gens[-1].connect(concurrency=64, with_times=True))
                    cpu.append(server.cpu())
                    time.sleep(2.0)
                    rss.append(server.rss())
                server.profile_stop()
            finally:
                for gen in gens:
                    gen.close()
                server.stop()
            first, second = (c["connected"] for c in connects)
            held = first + second
            connect = _both_halves(connects)
            figures = {
                "connections": held,
                "connect": connect,
                "server_cpu_ms_per_connect": round((cpu[2] - cpu[0]) / max(1, held) * 1e3, 3),
                "rss_before_mib": round(rss[0] / 2**20, 1),
                "rss_after_mib": round(rss[2] / 2**20, 1),
                "kib_per_connection": round((rss[2] - rss[0]) / max(1, held) / 1024, 1),
                "kib_per_connection_second_half": round(
                    (rss[2] - rss[1]) / max(1, second) / 1024, 1),
            }
            key = f"{kind}+deflate" if deflate else kind
            results[key] = figures
            bench.say(f"  (c) {key:17}: {held} held, {figures['kib_per_connection']} KiB "
                      f"each ({figures['kib_per_connection_second_half']} over the second "
                      f"half), {connect['rate_per_s']:.0f} connects/s, "
                      f"{figures['server_cpu_ms_per_connect']} ms CPU each "
                      f"{connect['errors'] or ''}")
    return {**results, "ratios": ratios(results, [("kib_per_connection",),
                                                   ("kib_per_connection_second_half",),
                                                   ("server_cpu_ms_per_connect",),
                                                   ("connect", "rate_per_s")])}


def _both_halves(connects: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(t for c in connects for t in c.pop("times_ms"))
    connected = sum(c["connected"] for c in connects)
    wall = sum(c["wall_s"] for c in connects)
    errors: dict[str, int] = {}
    for c in connects:
        for error, count in c["errors"].items():
            errors[error] = errors.get(error, 0) + count
    return {"connected": connected, "failed": sum(c["failed"] for c in connects),
            "errors": errors, "wall_s": wall, "rate_per_s": connected / wall if wall else 0.0,
            "connect_ms": percentiles(times)}


# --- (f) slow clients -------------------------------------------------------------------

SLOW_RATE = 50.0      # messages/s to the channel, shared by 5 managers a department
STALLED_SHARE = 10    # one member in 10 stops reading
# A long announcement (~1,000 characters, ~3 KB a frame), so that a stalled phone's
# socket buffers fill within seconds rather than minutes.
SLOW_BODY = ("【全庁連絡】台風接近に伴い、本日16時以降の窓口業務を縮小します。各課は来庁者への"
             "案内を徹底し、職員は安全確保を最優先に行動してください。") * 12


def run_slow_clients(bench: Bench) -> dict[str, Any]:
    """One channel of ``slow_members``; its managers post long announcements at a steady
    50 msg/s in total (well under what every server sustains, so latency is not
    queueing). Phase "all reading": every member reads. Phase "some stalled": one member
    in ten stops reading (its TCP window closes, as a phone whose app froze) and the
    others carry on. Reported for the members that kept reading, in both phases: latency
    and whether everything arrived; for the stalled ones, how their connections ended
    once they read again (Tsunagu: 4001, reconnect and resync), and the server's memory."""
    sizes = bench.sizes
    departments = {f"S{i:02d}": 100 for i in range(sizes.slow_members // 100)}
    results: dict[str, Any] = {}
    with population.database("sqlite") as (url, var_dir):
        city = City(url, var_dir)
        population.seed(city, departments, managers=5)
        asyncio.run(population.mint_sessions(city, city.people))
        channel = city.all_staff_channel
        managers = [i for i, p in enumerate(city.people) if p.role == "manager"]
        stalled = [i for i in range(len(city.people))
                   if i % STALLED_SHARE == STALLED_SHARE // 2 and i not in managers]
        measured = {channel: len(city.people) - len(stalled)}
        rate = SLOW_RATE / len(managers)
        for kind in KINDS:
            specs = specs_for(city.people, kind)
            for i in stalled:
                specs[i].measured = False
            server = bench.server(kind, city)
            try:
                gen = LoadGenerator(server.target(), specs, workers=sizes.workers)
                try:
                    results[kind] = _slow_phases(bench, server, gen, kind, managers,
                                                 channel, stalled, measured, rate)
                finally:
                    gen.close()
            finally:
                server.stop()
    paths = [("all_reading", "arrival_ms", "p99"), ("some_stalled", "arrival_ms", "p99"),
             ("all_reading", "latency_ms", "p99"), ("some_stalled", "latency_ms", "p99")]
    return {"members": len(city.people), "stalled": len(stalled),
            "messages_per_s": SLOW_RATE, "body_bytes": len(SLOW_BODY.encode()),
            **results,
            "ratios": ratios(results, paths)}


def _slow_phases(bench: Bench, server: targets.Server, gen: LoadGenerator, kind: str,
                 managers: list[int], channel: int, stalled: list[int],
                 measured: dict[int, int], rate: float) -> dict[str, Any]:
    seconds = bench.sizes.slow_seconds
    connect = gen.connect()
    senders = [SenderSpec(i, channel, rate, body=SLOW_BODY) for i in managers]
    figures: dict[str, Any] = {"connect": connect}
    for label in ("all_reading", "some_stalled"):
        if label == "some_stalled":
            gen.stall(stalled)
        rss0, cpu0 = server.rss(), server.cpu_times()
        server.profile_start()
        res = gen.run_phase(senders, seconds, measured)
        server.profile_stop()
        phase = phase_figures(res, server.cpu_times() - cpu0, seconds)
        phase["rss_growth_mib"] = round((server.rss() - rss0) / 2**20, 1)
        if kind == "tsunagu":
            phase["server_connections_after"] = _tsunagu_connections(server)
        figures[label] = phase
        bench.say(f"  (f) {kind:9} {label:12}: {_brief(phase)} "
                  f"rss +{phase['rss_growth_mib']} MiB")
    figures["stalled_after_resuming"] = ended = gen.resume()
    bench.say(f"  (f) {kind:9} stalled ones, reading again: {ended}")
    return figures


def _tsunagu_connections(server: targets.Server) -> int | None:
    import httpx

    try:
        connections: int = httpx.get(f"{server.http_url}/healthz", timeout=5).json()[
            "connections"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None
    return connections
