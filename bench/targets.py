"""The servers under test, each a process of its own, and what /proc says about them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.loadgen import Target

REPO_ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int, *, thread: int | None = None) -> float:
    """utime + stime of ``pid`` (every thread), or of its ``thread`` alone, from
    /proc/<pid>/stat or /proc/<pid>/task/<thread>/stat."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the comm field: state is fields[0]; utime and stime are stat fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuTimes:
    """A server's CPU seconds: the whole process, and its main thread alone (the event
    loop's, for Tsunagu and both baselines; Tsunagu's database threads are not in it).
    Subtract two to get a phase's."""

    process_s: float
    loop_s: float

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.process_s - earlier.process_s, self.loop_s - earlier.loop_s)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


@dataclass
class Server:
    """A running server process. ``kind`` is tsunagu, raw or starlette."""

    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    profiled: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def target(self, *, deflate: bool = False) -> Target:
        return Target(ws_url=f"ws://127.0.0.1:{self.port}/ws",
                      origin=f"http://localhost:{self.port}", deflate=deflate)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def cpu_times(self) -> CpuTimes:
        return CpuTimes(cpu_seconds(self.pid), cpu_seconds(self.pid, thread=self.pid))

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def profile_start(self) -> None:
        """Start the server's profiler (``bench.profiling``) when it has one."""
        if self.profiled:
            self.process.send_signal(signal.SIGUSR1)

    def profile_stop(self) -> None:
        """Stop it and write ``<log dir>/tsunagu-<port>-<n>.prof``."""
        if self.profiled:
            self.process.send_signal(signal.SIGUSR2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(kind: str, *, log_dir: Path, env: dict[str, str] | None = None,
          deflate: bool = False, profile: bool = False,
          cpus: set[int] | None = None) -> Server:
    """Start a server and wait until it accepts connections. ``profile`` runs Tsunagu
    under ``bench.profiling`` (see :meth:`Server.profile_start`); ``cpus`` pins it (every
    thread) to those cores, as ``taskset`` would."""
    port = free_port()
    python = sys.executable
    if kind == "tsunagu":
        command = [python, "-m", "chat.cli", "serve", "--port", str(port)]
        if profile:
            command[1:3] = ["-m", "bench.profiling", str(log_dir / f"tsunagu-{port}")]
    elif kind == "raw":
        command = [python, "-m", "bench.baselines.raw_relay", "--port", str(port)]
    elif kind == "starlette":
        command = [python, "-m", "bench.baselines.starlette_relay", "--port", str(port)]
    else:
        raise ValueError(kind)
    if deflate and kind != "tsunagu":
        command.append("--deflate")
    full_env = dict(os.environ)
    full_env.update(env or {})
    if kind == "tsunagu" and deflate:
        full_env["CHAT_WS_PER_MESSAGE_DEFLATE"] = "1"
    log_path = log_dir / f"{kind}-{port}.log"
    log = log_path.open("wb")
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=log,
                               stderr=subprocess.STDOUT, preexec_fn=pin)
    server = Server(kind, port, process, log_path, profiled=profile and kind == "tsunagu")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} server exited: {log_path.read_text()[-2000:]}")
        try:
            if kind == "tsunagu":
                httpx.get(f"{server.http_url}/healthz", timeout=1).raise_for_status()
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except (OSError, httpx.HTTPError):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{kind} server did not start: "
                                   f"{log_path.read_text()[-2000:]}") from None
            time.sleep(0.1)


# --- the shared services' CPU (PostgreSQL's backends, Redis) ------------------------------

def postgres_backends_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database_url``'s database
    (pids from pg_stat_activity, CPU from /proc: the server runs on this machine)."""
    import asyncio

    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    url = make_url(database_url)

    async def pids() -> list[int]:
        conn = await asyncpg.connect(host=url.host or "127.0.0.1", port=url.port or 5432,
                                     user=url.username or "postgres",
                                     password=url.password, database="postgres")
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1",
                                    url.database)
        finally:
            await conn.close()
        return [int(r["pid"]) for r in rows]

    out: dict[int, float] = {}
    for pid in asyncio.run(pids()):
        try:
            out[pid] = cpu_seconds(pid)
        except OSError:
            pass  # ended meanwhile, or not on this machine
    return out


def backends_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the backends spent between two :func:`postgres_backends_cpu` readings (a
    backend that started meanwhile counts whole; one that ended is lost)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def redis_cpu_seconds(redis_url: str) -> float:
    """Redis's own CPU so far (INFO cpu: used_cpu_user + used_cpu_sys, every thread)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
