"""Run a Tsunagu server with cProfile switched on and off by signals, so a profile
covers one benchmark phase and nothing else (``python -m bench.run --profile``).

    python -m bench.profiling PREFIX serve --port 8000

SIGUSR1 starts profiling the event loop's thread; SIGUSR2 stops and writes
``PREFIX-<n>.prof`` (read it with ``python -m pstats``). py-spy cannot attach in our
containers, and a profile of a whole run is mostly set-up.

The clock is cProfile's default, the wall clock: reading it costs ~60 ns here, the
loop thread's CPU clock (``time.thread_time``) ~720 ns, which was tried and inflated
every short call's share (two readings a call). The loop's idle time is its wait in
``epoll.poll``, which bench/breakdown.py leaves out; what the wall clock still
charges to the running function is the rare wait for the GIL (held by a database
thread) and time the machine gave to another process.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType


def main(argv: list[str]) -> int:
    prefix, rest = argv[0], argv[1:]
    profiler = cProfile.Profile()
    written = 0

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal written
        profiler.disable()
        written += 1
        profiler.dump_stats(f"{prefix}-{written}.prof")
        profiler.clear()

    # Python runs signal handlers in the main thread, which is the event loop's.
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from chat.cli import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
