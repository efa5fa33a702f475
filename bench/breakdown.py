"""Where a message's CPU goes, layer by layer, from a profile of a measured phase.

    python -m bench.breakdown PROFILE --messages N [--cpu-us-per-message U]

``PROFILE`` is a phase's cProfile (``bench.run --profile``; the wall clock of the
loop's thread, see bench/profiling.py). The loop's wait in ``epoll`` is left out, and
every other function's *own* time
(``tottime``, never the cumulative: coroutines and SQLAlchemy's greenlets break the
call stacks a cumulative figure adds up) is put in one layer by where its code lives,
and each layer is divided by the messages the phase sent. A profiler slows every
Python call, so the shares are what to read; with ``--cpu-us-per-message`` (the same
phase's unprofiled figure) each share is also given in µs of that figure.
"""

from __future__ import annotations

import argparse
import pstats
import sys
from collections import defaultdict

# (layer, what it covers, markers of the files or built-ins it holds), first match wins.
LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("waiting", "the loop idle in epoll: left out of the shares",
     ("method 'poll' of 'select.epoll'",)),
    ("socket writes", "the kernel's send of each frame (the relay pays the same)",
     ("method 'send' of '_socket.socket'", "method 'sendmsg'")),
    ("sqlite", "SQLite's own work: statements, commits, the search index",
     ("sqlite3.", "method 'execute' of 'sqlite3", "method 'executemany' of 'sqlite3",
      "method 'commit' of 'sqlite3", "method 'fetchall' of 'sqlite3")),
    ("asyncpg", "PostgreSQL's driver (protocol, encoding, the round trips' waits)",
     ("asyncpg",)),
    ("sqlalchemy", "sessions, transactions, pooled connections, results",
     ("sqlalchemy", "greenlet")),
    ("store", "Tsunagu's repositories and inline statements", ("chat/store/",)),
    ("send actions", "the send's checks, rows, frames, audit entries, pushes",
     ("chat/actions/", "chat/audit/", "chat/domain/", "chat/groupcommit.py",
      "chat/frames.py")),
    ("fanout", "the hub: routing each event to the members connected here",
     ("chat/hub/", "chat/bus/")),
    ("websocket session", "receiving, parsing and answering a client's frames",
     ("chat/web/", "chat/protocol.py", "uvicorn/", "starlette/", "websockets/")),
    ("json", "encoding and decoding frames", ("json/", "_json")),
    ("metrics", "Prometheus instruments", ("prometheus_client",)),
    ("event loop", "asyncio: tasks, timers, the selector",
     ("asyncio/", "selectors.py", "_heapq", "contextvars",
      "_asyncio")),
    ("python built-ins", "isinstance, len, dict and list methods… called by every layer",
     ("~:",)),
)
OTHER = "other"


def layer_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"  # built-ins have the file name "~"
    for name, _what, markers in LAYERS:
        if any(marker in where for marker in markers):
            return name
    return OTHER


def breakdown(path: str) -> dict[str, float]:
    """Own seconds of CPU per layer in the profile at ``path``."""
    stats = pstats.Stats(path)
    layers: dict[str, float] = defaultdict(float)
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        layers[layer_of(filename, function)] += row[2]              # tottime
    return dict(layers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown")
    parser.add_argument("profile")
    parser.add_argument("--messages", type=int, required=True,
                        help="messages sent in the profiled phase")
    parser.add_argument("--cpu-us-per-message", type=float,
                        help="the same phase's unprofiled server CPU a message")
    args = parser.parse_args(argv)
    layers = breakdown(args.profile)
    layers.pop("waiting", None)
    total = sum(layers.values()) or 1.0
    print(f"{'layer':18} {'share':>6} {'profiled µs/msg':>16}"
          + (f" {'≈ µs/msg':>9}" if args.cpu_us_per_message else ""))
    for name, seconds in sorted(layers.items(), key=lambda item: -item[1]):
        share = seconds / total
        line = f"{name:18} {share:6.1%} {seconds / args.messages * 1e6:16.0f}"
        if args.cpu_us_per_message:
            line += f" {share * args.cpu_us_per_message:9.0f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
