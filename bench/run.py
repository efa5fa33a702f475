"""Run the benchmark: ``python -m bench.run [--full] [--only a,b,c,d,e,f,g,h]``
(``--only i`` and ``--only j``, the two-node runs, are not in the default set).

Writes ``bench/results/latest.json`` (one object per scenario, each with the machine)
and ``bench/results/latest.txt`` (the table). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.loadgen import raise_fd_limit
from bench.scenarios import (
    FULL,
    QUICK,
    Bench,
    run_city_and_fanout,
    run_idle,
    run_slow_clients,
)

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kib = 0
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def machine_speed() -> float:
    """Milliseconds this machine takes for a fixed piece of pure-Python work (JSON
    encoding and SHA-256 of a chat-sized message, 20,000 times; best of three).

    The machine is shared: the same build's figures have differed by 2-4x from one day
    to the next. Measured at the start and the end of a run, this says how fast the
    machine was, so figures from different runs can be put side by side (a ratio
    against the baselines of the same run remains the figure to compare)."""
    message = {"type": "message", "channel_id": 12, "seq": 4711, "sender_id": 33,
               "body": "本日の窓口混雑状況を共有します。" * 4, "mentions": [1, 2, 3]}
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for n in range(20_000):
            message["seq"] = n
            hashlib.sha256(json.dumps(message, ensure_ascii=False).encode()).hexdigest()
        best = min(best, time.perf_counter() - started)
    return round(best * 1e3, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--full", action="store_true",
                        help="the issue's sizes (10,000 idle, 1,000,000 messages)")
    parser.add_argument("--only", default="a,b,c,d,e,f,g,h",
                        help="scenarios to run, e.g. a,b (a and b always run together)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile", action="store_true",
                        help="profile Tsunagu's phases with cProfile (slower: its figures "
                             "are not comparable); profiles go to the log directory")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                        help="what Tsunagu serves (a) and (b) from (postgres: a dedicated "
                             "database on the local server, dropped afterwards)")
    args = parser.parse_args(argv)
    sizes = FULL if args.full else QUICK
    only = set(args.only.split(","))
    raise_fd_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-logs-"))
    bench = Bench(sizes, log_dir, say=lambda line: print(line, flush=True),
                  profile=args.profile, database=args.database)
    host = machine()
    host["speed_ms_at_start"] = machine_speed()
    started = time.perf_counter()
    print(f"benchmark ({sizes.name}) on {host['cpus']} CPUs; server logs in {log_dir}",
          flush=True)
    scenarios: dict[str, Any] = {}

    last = [started]

    def record(key: str, description: str, figures: dict[str, Any]) -> None:
        # How long each part took (set-up included), so `make bench` stays short.
        now = time.perf_counter()
        took, last[0] = round(now - last[0], 1), now
        scenarios[key] = {"scenario": key, "description": description, "mode": sizes.name,
                          "machine": host, "elapsed_s": took, **figures}
        print(f"  {key}: {took:.0f}s", flush=True)

    if only & {"a", "b"}:
        a, b = run_city_and_fanout(bench)
        a["database"] = b["database"] = args.database
        record("a_city_hall_peak", "700 connected, 50 senders × 1 msg/s (1x) and × 10 "
               "msg/s (10x) across 14 department channels and the all-staff channel", a)
        record("b_fanout", "one 1,000-member channel, managers posting as fast as the "
               "server acknowledges", b)
    if "c" in only:
        record("c_idle_connections", f"{sizes.idle_connections:,} idle authenticated "
               "connections held" + (" (quick mode; --full holds 10,000)"
                                     if sizes is QUICK else ""), run_idle(bench))
    if "d" in only:
        from bench.persistence import run_persistence

        record("d_persistence", "stored messages per second with the audit chain",
               run_persistence(bench))
    if "e" in only:
        from bench.search import run_search

        record("e_search", f"Japanese substring search over {sizes.search_messages:,} "
               "messages through /api/search/messages" + (
                   " (quick mode; --full searches 1,000,000)" if sizes is QUICK else ""),
               run_search(bench))
    if "f" in only:
        record("f_slow_clients", f"{sizes.slow_members:,} members of one channel receiving "
               "50 long announcements/s; then one in ten stops reading", run_slow_clients(bench))
    if "g" in only or "rollcall" in only:
        from bench.rollcall import run_rollcall

        record("g_rollcall", "a safety roll call: all 700 staff answer within 10 s "
               "through HTTP while one HQ connection watches the live tally",
               run_rollcall(bench))
    if "h" in only:
        from bench.mix import run_mix

        record("h_city_hall_mix", "700 connected, 35 department channels of 20, 50 senders "
               "at 1 and 9 msg/s; Tsunagu on SQLite and PostgreSQL against the raw relay",
               run_mix(bench))
    if "i" in only:
        from bench.twonode import run_capacity

        record("i_two_nodes", "capacity of one node and of two (PostgreSQL + Redis) in the "
               "city-hall mix: the highest rate delivered once under the p99 bound",
               run_capacity(bench))
    if "j" in only:
        from bench.twonode import run_prefecture

        record("j_prefecture", "10,000 connected over two nodes, 500 department channels "
               "of 20, senders at 9 msg/s", run_prefecture(bench))
    elapsed = time.perf_counter() - started
    host["speed_ms_at_end"] = machine_speed()
    document = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "mode": sizes.name,
                "elapsed_s": round(elapsed, 1), "machine": host,
                "scenarios": list(scenarios.values())}
    (args.out / "latest.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    from bench.report import table

    text = table(document)
    (args.out / "latest.txt").write_text(text)
    print(text)
    print(f"wrote {args.out / 'latest.json'} in {elapsed:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
