"""Table rows for (h) the city-hall mix, (i) two nodes' capacity and (j) the prefecture:
kept apart from bench/report.py, whose rows are per scenario letter, because these three
carry targets (met / not) and per-process CPU columns the others do not."""

from __future__ import annotations

from typing import Any

_HEAD = (f"{'msg/s':>7} {'deliv/s':>9} {'arr p50':>8} {'arr p99':>8} {'read p99':>8} "
         f"{'us/deliv':>9} {'loop us':>8}")


def _phase(f: dict[str, Any]) -> str:
    arr, lat = f["arrival_ms"], f["latency_ms"]
    return (f"{f['sent_per_s']:7.1f} {f['deliveries_per_s']:9.1f} {arr['p50']:8.2f} "
            f"{arr['p99']:8.2f} {lat['p99']:8.2f} {f['server_cpu_us_per_delivery']:9.2f} "
            f"{f['server_loop_us_per_delivery']:8.2f}")


def _once(f: dict[str, Any]) -> str:
    return "yes" if f.get("delivered_once") else f"NO (dup {f.get('duplicates', '?')})"


def rows(s: dict[str, Any]) -> list[str]:
    key = s["scenario"]
    if key.startswith("h_"):
        return _mix(s)
    if key.startswith("i_"):
        return _capacity(s)
    return _prefecture(s)


def _mix(s: dict[str, Any]) -> list[str]:
    out = [f"{'server':17} {'rate':4} {_HEAD} {'db us':>6} once"]
    for name in ("tsunagu_sqlite", "tsunagu_postgres", "raw"):
        for label, f in s.get(name, {}).get("phases", {}).items():
            db = f.get("database_cpu_us_per_delivery")
            out.append(f"{name:17} {label:4} {_phase(f)} "
                       f"{'' if db is None else f'{db:6.1f}':>6} {_once(f)}")
    for name in ("tsunagu_sqlite", "tsunagu_postgres", "raw"):
        idle = s.get(name, {}).get("idle")
        if idle:
            out.append(f"  idle {name}: server {idle['server_cpu_ms_per_s']} ms CPU/s "
                       f"(loop {idle['loop_cpu_ms_per_s']})"
                       + (f", database {idle['database_cpu_ms_per_s']} ms/s"
                          if "database_cpu_ms_per_s" in idle else ""))
    for name, t in s.get("targets", {}).items():
        with_db = t.get("cpu_with_database_ratio_to_raw")
        out.append(f"  target {name}: CPU {t['cpu_ratio_to_raw']}× raw (≤ {t['cpu_bound']}×: "
                   f"{'met' if t['cpu_met'] else 'NOT met'}"
                   + (f"; with the database {with_db}×" if with_db is not None else "")
                   + f"), arrival p99 {t['arrival_p99_ms']} ms (≤ {t['arrival_bound_ms']}: "
                   f"{'met' if t['arrival_met'] else 'NOT met'}), delivered once "
                   f"{'yes' if t['delivered_once'] else 'NO'}"
                   + ("" if t.get("generator_kept_pace", True)
                      else "; the generator fell behind the offered rate"))
    return out


def _step(f: dict[str, Any]) -> str:
    nodes = "+".join(f"{c:.1f}" for c in f["node_cpu_us_per_delivery"])
    return (f"{f['senders']:5} {f['rate_per_sender']:5} {_phase(f)} {nodes:>11} "
            f"{f['database_cpu_us_per_delivery']:6.1f} {f['redis_cpu_us_per_delivery']:6.1f} "
            f"{_once(f):4} {'ok' if f['ok'] else 'OVER'}")


_STEP_HEAD = (f"{'send':>5} {'rate':>5} {_HEAD} {'node us':>11} {'db us':>6} {'redis':>6} "
              "once")


def _capacity(s: dict[str, Any]) -> list[str]:
    out = [f"{'layout':10} {_STEP_HEAD}"]
    for name in ("one", "two", "one_pinned", "two_pinned"):
        for f in s.get(name, {}).get("steps", []):
            out.append(f"{name:10} {_step(f)}")
    for name in ("one", "two", "one_pinned", "two_pinned"):
        v = s.get(name)
        if v and v.get("idle"):
            out.append(f"  idle {name}: nodes {v['idle']['node_cpu_ms_per_s']} ms CPU/s, "
                       f"database {v['idle']['database_cpu_ms_per_s']}, Redis "
                       f"{v['idle']['redis_cpu_ms_per_s']}")
        if v:
            out.append(f"  capacity {name}: {v['capacity_msg_per_s']} msg/s "
                       f"({v['capacity_deliveries_per_s']} deliveries/s) under arrival p99 "
                       f"{s['bound_ms']} ms, every message once")
    for two in ("two", "two_pinned"):
        one = two.replace("two", "one")
        ratio = s.get(f"capacity_ratio_{two}_to_{one}")
        if ratio is not None:
            out.append(f"  measured ratio {two}/{one}: {ratio}× (target ≥ {s['target_ratio']}×: "
                       f"{'met' if ratio >= s['target_ratio'] else 'NOT met'} on this machine)")
        d = s.get(f"derived_{two}")
        if d:
            out.append(f"  derived ({two}, a core per node, at {d['at_msg_per_s']} msg/s): "
                       f"{d['one_node_cpu_us_per_delivery']} us/deliv on one node → "
                       f"{d['one_node_deliveries_per_s_per_core']} deliv/s a core; "
                       f"{d['two_nodes_cpu_us_per_delivery_sum']} summed over two → "
                       f"{d['two_nodes_deliveries_per_s_two_cores']} deliv/s on two cores: "
                       f"{d['ratio']}×")
    return out


def _prefecture(s: dict[str, Any]) -> list[str]:
    out = [_STEP_HEAD]
    out.extend(_step(f) for f in s.get("steps", []))
    idle = s.get("idle")
    if idle:
        out.append(f"  idle, all connected: nodes {idle['node_cpu_ms_per_s']} ms CPU/s, database "
                   f"{idle['database_cpu_ms_per_s']}, Redis {idle['redis_cpu_ms_per_s']}")
    out.append(f"  {s['connections']} connected over {s['nodes']} nodes; largest sender count "
               f"sustained (every message once, arrival p99 ≤ {s['bound_ms']} ms): "
               f"{s['largest_sustained_senders']} at {s['rate_per_sender']} msg/s "
               f"(proportional to the city: {s['proportional_senders']}; "
               f"{'met' if s['met_at_proportional'] else 'NOT met'} there)")
    return out
