"""(i) Two nodes' capacity against one, and (j) a prefecture over two nodes.

Issue 27, target 3: a deployment grows by adding nodes that share PostgreSQL and a Redis
bus, so two nodes should carry ≥ 1.8× one node's load at the same latency. Capacity is
measured, not assumed: the city-hall mix ((h)'s 700 connections, 35 department channels
of 20) with the send rate stepped up until a step either loses a delivery or its arrival
p99 passes a fixed bound; the last step that passed is the capacity. With two nodes the
connections alternate between them, so a department's members sit on both and most
deliveries cross the Redis bus.

This machine has 2 cores for PostgreSQL, Redis, the generator and the nodes, so two
nodes cannot get a core each; the figures include every process's CPU per delivery
(nodes, the bench database's backends, Redis), from which the capacity of a machine with
a core per node follows (reported as ``derived``). ``BENCH_PIN_NODES=1`` adds pinned
variants (node n on core n).

Not in ``make bench`` (minutes): ``python -m bench.run --only i`` or ``--only j``.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench import population, targets
from bench.loadgen import LoadGenerator, SenderSpec
from bench.mix import DEPARTMENTS, department_members, department_senders
from bench.population import City
from bench.scenarios import Bench, _brief, phase_figures, specs_for

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# Under the per-connection rate limit (10/s); more load comes from more senders.
MAX_RATE = 9.0
MIN_SENDERS = 50
# (i): total msg/s of each step (× ~20 deliveries), and the p99 every passing step keeps.
CAPACITY_STEPS = (50, 150, 300, 450, 600, 750, 900, 1200, 1500, 1800)
# On this shared machine the p99 at 50 msg/s was 60-300 ms (other jobs on the cores), so
# the bound sits above it: what fails a step is the queue of a saturated node.
CAPACITY_P99_MS = float(os.environ.get("BENCH_CAPACITY_P99_MS", "500"))
CAPACITY_TARGET = 1.8
# (j): 10,000 over two nodes in 500 departments of 20; senders at MAX_RATE. 714 is the
# city's 50 per 700 scaled to 10,000.
PREFECTURE = {f"P{i:03d}": 20 for i in range(500)}
PREFECTURE_SENDERS = tuple(int(n) for n in os.environ.get(
    "BENCH_PREFECTURE_SENDERS", "10,25,50,100,200,400,714").split(","))
PREFECTURE_P99_MS = 50.0
# A first phase, reported but not counted: a node's first sends prepare each statement on
# each pooled PostgreSQL connection, which put the first step's p99 at 64-74 ms against
# 26-36 ms for the next ones (docs/performance.md, Open problems).
WARM_UP_SECONDS = 3.0


@dataclass
class Cluster:
    """Tsunagu nodes sharing one database and one Redis bus (a prefix of their own)."""

    nodes: list[targets.Server]
    database_url: str

    def cpu(self) -> tuple[list[targets.CpuTimes], dict[int, float], float]:
        return ([n.cpu_times() for n in self.nodes],
                targets.postgres_backends_cpu(self.database_url),
                targets.redis_cpu_seconds(REDIS_URL))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def idle(self, seconds: float = 4.0) -> dict[str, Any]:
        """CPU a second of each node, the database's backends and Redis while every
        connection is open and nobody sends: the fixed cost beneath each phase."""
        time.sleep(1.0)
        nodes0, db0, redis0 = self.cpu()
        time.sleep(seconds)
        nodes1, db1, redis1 = self.cpu()
        return {"seconds": seconds,
                "node_cpu_ms_per_s": [round((b - a).process_s / seconds * 1e3, 1)
                                      for a, b in zip(nodes0, nodes1, strict=True)],
                "database_cpu_ms_per_s": round(
                    targets.backends_delta(db0, db1) / seconds * 1e3, 1),
                "redis_cpu_ms_per_s": round((redis1 - redis0) / seconds * 1e3, 1)}


def start_cluster(bench: Bench, city: City, count: int, *, pinned: bool = False) -> Cluster:
    env = {**city.server_env(), "CHAT_BUS_URL": REDIS_URL,
           "CHAT_BUS_PREFIX": f"bench{uuid.uuid4().hex[:8]}:"}
    nodes: list[targets.Server] = []
    try:
        for n in range(count):
            nodes.append(targets.start("tsunagu", log_dir=bench.log_dir, env=env,
                                       cpus={n % (os.cpu_count() or 1)} if pinned else None))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return Cluster(nodes, city.database_url)


def spread_senders(city: City, total: float) -> list[SenderSpec]:
    """Senders for ``total`` msg/s over the department channels: at least 50, each at
    most 9 msg/s."""
    count = max(MIN_SENDERS, math.ceil(total / MAX_RATE))
    return department_senders(city.people, city, count=count, rate=total / count)


def measured_phase(cluster: Cluster, gen: LoadGenerator, senders: list[SenderSpec],
                   members: dict[int, int], seconds: float, bound_ms: float
                   ) -> dict[str, Any]:
    """One phase, with every process's CPU a delivery: the nodes (summed, and each), the
    bench database's backends and Redis; ``ok`` if delivered once under ``bound_ms``."""
    nodes0, db0, redis0 = cluster.cpu()
    res = gen.run_phase(senders, seconds, members, drain_timeout=8.0)
    nodes1, db1, redis1 = cluster.cpu()
    each = [b - a for a, b in zip(nodes0, nodes1, strict=True)]
    total = targets.CpuTimes(sum(c.process_s for c in each), sum(c.loop_s for c in each))
    figures = phase_figures(res, total, seconds)
    per = 1e6 / max(1, res.delivered)
    figures.update(
        senders=len(senders), rate_per_sender=round(senders[0].rate, 2),
        node_cpu_us_per_delivery=[round(c.process_s * per, 2) for c in each],
        node_loop_cpu_s=[round(c.loop_s, 2) for c in each],
        database_cpu_us_per_delivery=round(targets.backends_delta(db0, db1) * per, 2),
        redis_cpu_us_per_delivery=round((redis1 - redis0) * per, 2),
        bound_ms=bound_ms,
        ok=figures["delivered_once"] and figures["arrival_ms"]["p99"] <= bound_ms)
    return figures


def warm_up_then_step(bench: Bench, cluster: Cluster, gen: LoadGenerator,
                      members: dict[int, int], prefix: str,
                      steps: list[tuple[str, dict[str, Any], list[SenderSpec]]], *,
                      seconds: float, bound_ms: float
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A warm-up phase with the first step's senders (reported, not counted: a node's
    first sends prepare each statement on every pooled PostgreSQL connection), then the
    ``steps`` (label, figures to add, senders) in order until the first over the bound,
    each line of the run's output starting with ``prefix``. The warm-up's figures and
    the steps measured."""
    warm_up = measured_phase(cluster, gen, steps[0][2], members, WARM_UP_SECONDS,
                             bound_ms)
    bench.say(f"  {prefix} warm-up: {_step_line(warm_up)}")
    measured = []
    for label, extra, senders in steps:
        step = measured_phase(cluster, gen, senders, members, seconds, bound_ms)
        step.update(extra)
        measured.append(step)
        bench.say(f"  {prefix} {label}: {_step_line(step)}")
        if not step["ok"]:
            break
    return warm_up, measured


# --- (i) capacity -----------------------------------------------------------------------

def run_capacity(bench: Bench) -> dict[str, Any]:
    variants = [("one", 1, False), ("two", 2, False)]
    if os.environ.get("BENCH_PIN_NODES") == "1":
        variants += [("one_pinned", 1, True), ("two_pinned", 2, True)]
    seconds = min(bench.sizes.phase_seconds, 3.0) if bench.sizes.name == "quick" else 10.0
    results: dict[str, Any] = {}
    with population.database("postgres") as (url, var_dir):
        city = population.signed_in_city(url, var_dir, DEPARTMENTS, say=bench.say,
                                         label="(i)")
        members = department_members(city)
        for name, count, pinned in variants:
            cluster = start_cluster(bench, city, count, pinned=pinned)
            try:
                gen = LoadGenerator([n.target() for n in cluster.nodes],
                                    specs_for(city.people, "tsunagu"),
                                    workers=bench.sizes.workers)
                try:
                    connect = gen.connect()
                    idle = cluster.idle()
                    bench.say(f"  (i) {name:10} idle: {idle}")
                    warm_up, steps = warm_up_then_step(
                        bench, cluster, gen, members, f"(i) {name:10}",
                        [(f"{total:5} msg/s", {"msg_per_s_offered": total},
                          spread_senders(city, total)) for total in CAPACITY_STEPS],
                        seconds=seconds, bound_ms=CAPACITY_P99_MS)
                finally:
                    gen.close()
            finally:
                cluster.stop()
            passed = [s for s in steps if s["ok"]]
            results[name] = {
                "nodes": count, "pinned": pinned, "connect": connect, "idle": idle,
                "warm_up": warm_up,
                "steps": steps,
                "capacity_msg_per_s": passed[-1]["msg_per_s_offered"] if passed else 0,
                "capacity_deliveries_per_s": passed[-1]["deliveries_per_s"] if passed else 0,
                "limited_by_steps": len(passed) == len(CAPACITY_STEPS)}
    out: dict[str, Any] = {"connections": len(city.people), "phase_seconds": seconds,
                           "bound_ms": CAPACITY_P99_MS, "target_ratio": CAPACITY_TARGET,
                           **results}
    for one, two in (("one", "two"), ("one_pinned", "two_pinned")):
        if one in results and two in results:
            a, b = results[one]["capacity_msg_per_s"], results[two]["capacity_msg_per_s"]
            out[f"capacity_ratio_{two}_to_{one}"] = round(b / a, 2) if a else None
            out[f"derived_{two}"] = derived(results[one], results[two])
    return out


def derived(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """What a machine with a core for each node would carry (derived, not measured): at
    the highest step both passed, the nodes' CPU a delivery — one node's, and two nodes'
    summed (each delivery crosses the bus, so the sum is higher) — gives each layout's
    deliveries/s when its nodes' cores are full; PostgreSQL and Redis on cores of their
    own."""
    common = [(a, b) for a, b in zip(one["steps"], two["steps"], strict=False)
              if a["ok"] and b["ok"]]
    if not common:
        return {}
    a, b = common[-1]
    one_us, two_us = a["server_cpu_us_per_delivery"], b["server_cpu_us_per_delivery"]
    return {"at_msg_per_s": a["msg_per_s_offered"],
            "one_node_cpu_us_per_delivery": one_us,
            "two_nodes_cpu_us_per_delivery_sum": two_us,
            "one_node_deliveries_per_s_per_core": round(1e6 / one_us) if one_us else None,
            "two_nodes_deliveries_per_s_two_cores": round(2e6 / two_us) if two_us else None,
            "ratio": round(2 * one_us / two_us, 2) if two_us else None,
            "database_cpu_us_per_delivery": [a["database_cpu_us_per_delivery"],
                                             b["database_cpu_us_per_delivery"]],
            "redis_cpu_us_per_delivery": [a["redis_cpu_us_per_delivery"],
                                          b["redis_cpu_us_per_delivery"]]}


# --- (j) a prefecture -------------------------------------------------------------------

def run_prefecture(bench: Bench) -> dict[str, Any]:
    """10,000 connections over two nodes, 500 departments of 20; senders at 9 msg/s,
    stepped up until a step loses a delivery or passes p99 50 ms. The largest passing
    sender count is what this machine (and generator) sustains."""
    seconds = bench.sizes.phase_seconds
    with population.database("postgres") as (url, var_dir):
        city = population.signed_in_city(url, var_dir, PREFECTURE, say=bench.say,
                                         label="(j)")
        members = department_members(city)
        cluster = start_cluster(bench, city, 2)
        try:
            gen = LoadGenerator([n.target() for n in cluster.nodes],
                                specs_for(city.people, "tsunagu"),
                                workers=bench.sizes.workers)
            try:
                connect = gen.connect(concurrency=128)
                bench.say(f"  (j) {connect['connected']} connected in "
                          f"{connect['wall_s']:.0f}s, {connect['failed']} failed "
                          f"{connect['errors'] or ''}")
                rss = [round(n.rss() / 2**20, 1) for n in cluster.nodes]
                idle = cluster.idle()
                bench.say(f"  (j) idle: {idle}")
                warm_up, steps = warm_up_then_step(
                    bench, cluster, gen, members, "(j)",
                    [(f"{count:4} senders", {},
                      department_senders(city.people, city, count=count, rate=MAX_RATE))
                     for count in PREFECTURE_SENDERS],
                    seconds=seconds, bound_ms=PREFECTURE_P99_MS)
            finally:
                gen.close()
        finally:
            cluster.stop()
    passed = [s for s in steps if s["ok"]]
    return {"connections": len(city.people), "nodes": 2, "channels": len(PREFECTURE),
            "rate_per_sender": MAX_RATE, "bound_ms": PREFECTURE_P99_MS,
            "proportional_senders": round(MIN_SENDERS * len(city.people) / 700),
            "connect": connect, "rss_mib_after_connect": rss, "idle": idle,
            "warm_up": warm_up, "steps": steps,
            "largest_sustained_senders": passed[-1]["senders"] if passed else 0,
            "met_at_proportional": bool(passed) and passed[-1]["senders"] >= round(
                MIN_SENDERS * len(city.people) / 700)}


def _step_line(step: dict[str, Any]) -> str:
    """One capacity step as the run prints it."""
    return (f"{_brief(step)} nodes {step['node_cpu_us_per_delivery']} db "
            f"{step['database_cpu_us_per_delivery']} redis "
            f"{step['redis_cpu_us_per_delivery']} us/deliv "
            f"{'ok' if step['ok'] else 'OVER'}")
