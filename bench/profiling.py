"""Run a Tsunagu server with cProfile switched on and off by signals, so a profile
covers one benchmark phase and nothing else (``python -m bench.run --profile``).

    python -m bench.profiling PREFIX serve --port 8000

SIGUSR1 starts profiling the event loop's thread; SIGUSR2 stops and writes
``PREFIX-<n>.prof`` (read it with ``python -m pstats``). py-spy cannot attach in our
containers, and a profile of a whole run is mostly set-up.

The clock is the loop thread's CPU time (``time.thread_time``), not the wall: the
figures the benchmark reports are CPU per delivery, and a wall-clock profile charges
the loop's idle waits and its waits for the GIL (held by a database thread) to
whatever function happened to be running.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType


def main(argv: list[str]) -> int:
    prefix, rest = argv[0], argv[1:]
    profiler = cProfile.Profile(time.thread_time)
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
