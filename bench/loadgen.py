"""The load generator: worker processes holding websocket connections, and the handle the
scenarios drive them with.

Each worker is a process of its own (the generator saturates before the server on a
small machine, so it spreads over several). Its connections speak the websockets
library's sans-I/O client (``websockets.client.ClientProtocol``) on a bare asyncio
protocol: a received frame costs a parse and a byte search, not a task wake-up, so the
generator measures the server rather than itself.

Latency is measured end to end, twice: a sender puts ``time.time_ns()`` into the
``client_id`` of each ``send`` (``b<ns>-<worker>-<n>``), and every connection that
receives the ``message`` frame subtracts it from

- the kernel's receive timestamp of the bytes that completed the frame (``SO_TIMESTAMPNS``
  on each socket, read with ``recvmsg``): **arrival**, when the frame reached the
  client's socket, which is what a phone with a CPU of its own would see; and
- the clock when the worker parsed it: **read**, which adds the generator's own queue
  (a worker holding 350 of a 700-member channel's connections parses the 350 copies
  one after another, ~10 ms on this machine) to the server's latency.

Both are CLOCK_REALTIME, one clock for every process on the machine. Where the kernel
gives no timestamp (not Linux), arrival is the read time.

Delivery is counted **once**: each connection remembers the ``client_id`` of every
message it received in the phase, and a second copy is counted as a duplicate instead of
a delivery, so "all delivered" means every member got each message exactly once. The
connections may be spread over several servers (the nodes of one deployment): each
connection has its target, round-robin unless a scenario says.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import socket
import struct
import sys
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Origin
from websockets.uri import parse_uri

MESSAGE_PREFIX = b'{"type":"message",'
ACK_PREFIX = b'{"type":"ack",'
ERROR_MARK = b'"type":"error"'
CLIENT_ID_MARK = b'"client_id":"b'
HEARTBEAT_SECONDS = 25.0
# Linux's SO_TIMESTAMPNS (the "_OLD" value, a struct timespec of two longs; Python's
# socket module does not name it): each recvmsg carries the kernel's receive time of the
# last packet it read. Elsewhere there is none, and arrival is the read time.
SO_TIMESTAMPNS = 35 if sys.platform == "linux" else None
STAMP_SPACE = socket.CMSG_SPACE(16)
READ_SIZE = 256 * 1024
# Worker processes run at this niceness (the lowest priority); see _worker_main.
GENERATOR_NICE = int(os.environ.get("BENCH_GENERATOR_NICE", "19"))
BODY = "【防災訓練】本日14時から庁舎3階で避難訓練を実施します。各課1名以上の参加をお願いします。"


def raise_fd_limit() -> int:
    """Lift RLIMIT_NOFILE to the hard limit (raising the hard limit too when root)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 200_000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Target:
    """Where the connections go and how: ``ws_url`` is also the proof's ``htu``."""

    ws_url: str
    origin: str
    deflate: bool = False


@dataclass
class ConnSpec:
    """One connection: a session token and the PEM of its device key (None for the
    baselines, which check nothing), and the channels it listens to (the baselines
    subscribe it to these; Tsunagu reads memberships from its database).

    A connection that is not ``measured`` is left out of deliveries and latencies (the
    ones a scenario will stall). ``target`` is the index of the server it connects to
    among the generator's targets (None: round-robin, see :func:`assign_targets`)."""

    channels: list[int]
    token: str | None = None
    key_pem: bytes | None = None
    measured: bool = True
    target: int | None = None


def assign_targets(specs: Sequence[ConnSpec], targets: int) -> list[ConnSpec]:
    """Each spec with its target: its own if it has one, else connection i goes to
    target i mod ``targets`` (so a channel's members spread evenly over the nodes)."""
    out = []
    for i, spec in enumerate(specs):
        target = spec.target if spec.target is not None else i % targets
        if not 0 <= target < targets:
            raise ValueError(f"connection {i}: target {target} of {targets}")
        out.append(replace(spec, target=target))
    return out


@dataclass
class SenderSpec:
    """Connection ``index`` posts to ``channel_id`` at ``rate`` messages/s, with at
    most ``window`` unacknowledged (0: no limit, an open loop)."""

    index: int
    channel_id: int
    rate: float
    window: int = 0
    body: str = BODY


@dataclass
class Stats:
    delivered: int = 0
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))  # send → read
    arrivals_ns: array[int] = field(default_factory=lambda: array("q"))   # send → arrival
    acks: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    # A message a connection had already received (the same client_id): not a delivery.
    duplicates: int = 0
    other: int = 0
    closed: int = 0
    # Connections left out of the measurement: messages they received, and how each
    # ended (a close code, or "reset" when the server cut the TCP connection).
    unmeasured_delivered: int = 0
    close_codes: Counter[str] = field(default_factory=Counter)


class WsClient:
    """One websocket connection on the sans-I/O client, over a non-blocking socket the
    loop watches (``add_reader``): ``recvmsg`` rather than an asyncio transport, for
    the kernel's receive timestamp of each read."""

    def __init__(self, worker: Worker, uri: str, origin: str, deflate: bool, *,
                 measured: bool = True) -> None:
        self.worker = worker
        self.measured = measured
        self.proto = ClientProtocol(
            parse_uri(uri), origin=Origin(origin),
            extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
            max_size=2**20)
        self.loop = asyncio.get_running_loop()
        self.sock: socket.socket | None = None
        self.pending = bytearray()  # what the kernel would not take yet
        self.arrived_ns = 0         # kernel receive time of the last bytes read
        self.opened: asyncio.Future[None] = self.loop.create_future()
        self.early: asyncio.Queue[bytes] = asyncio.Queue()
        self.live = False
        self.sender: SenderState | None = None
        self.stalled = False
        # client_ids received this phase, so a second copy counts as a duplicate.
        self.seen: set[bytes] = set()

    async def connect(self, host: str, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if SO_TIMESTAMPNS is not None:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            await self.loop.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._readable)
        self.proto.send_request(self.proto.connect())
        self._flush()

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            data, ancdata, _flags, _address = self.sock.recvmsg(READ_SIZE, STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        stamp = 0
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = struct.unpack_from("qq", payload)
                stamp = seconds * 1_000_000_000 + nanoseconds
        self.arrived_ns = stamp or time.time_ns()
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    text = bytes(event.data)
                    if self.live:
                        self.worker.on_text(self, text)
                    else:
                        self.early.put_nowait(text)
                elif event.opcode is Opcode.CLOSE and not self.opened.done():
                    self.opened.set_exception(ConnectionError("closed during handshake"))
            elif isinstance(event, Response):
                if self.proto.handshake_exc is not None:
                    self.opened.set_exception(self.proto.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._flush()

    def _lost(self, exc: Exception | None) -> None:
        """The connection ended (the server closed or reset it)."""
        if self.sock is None:
            return
        self._release()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection lost"))
        if self.live:
            if self.measured:
                self.worker.stats.closed += 1
            rcvd = self.proto.close_rcvd
            self.worker.stats.close_codes[str(rcvd.code) if rcvd else "reset"] += 1
        self.live = False

    def _release(self) -> None:
        assert self.sock is not None
        fd = self.sock.fileno()
        self.loop.remove_reader(fd)
        self.loop.remove_writer(fd)
        self.sock.close()
        self.sock = None

    def stall(self) -> None:
        """Stop reading, as a phone whose app froze: TCP backpressure reaches the
        server once the socket buffers fill."""
        if self.sock is not None and not self.stalled:
            self.loop.remove_reader(self.sock.fileno())
            self.stalled = True

    def resume(self) -> None:
        if self.stalled and self.sock is not None:
            self.loop.add_reader(self.sock.fileno(), self._readable)
        self.stalled = False

    def send_text(self, text: str) -> None:
        if self.sock is None:
            return
        self.proto.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        if self.sock is not None:
            self._release()

    def _flush(self) -> None:
        for chunk in self.proto.data_to_send():
            if self.sock is None:
                return
            if chunk:
                self._write(chunk)
            elif not self.pending:
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def _write(self, chunk: bytes) -> None:
        assert self.sock is not None
        if self.pending:
            self.pending += chunk
            return
        try:
            sent = self.sock.send(chunk)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(chunk):
            self.pending += chunk[sent:]
            self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self.pending[:sent]
        if not self.pending:
            self.loop.remove_writer(self.sock.fileno())

    async def next_frame(self) -> bytes:
        return await self.early.get()


class SenderState:
    def __init__(self, worker: Worker, client: WsClient, spec: SenderSpec) -> None:
        self.worker = worker
        self.client = client
        self.spec = spec
        self.n = 0
        self.unacked = 0
        self.sent = 0
        self.ack_wait: asyncio.Event = asyncio.Event()

    def send(self) -> None:
        self.n += 1
        client_id = f"b{time.time_ns()}-{self.worker.index}-{self.spec.index}-{self.n}"
        self.client.send_text(
            f'{{"type":"send","channel_id":{self.spec.channel_id},'
            f'"client_id":"{client_id}","body":"{self.spec.body}"}}')
        self.unacked += 1
        self.sent += 1

    def acked(self) -> None:
        self.unacked = max(0, self.unacked - 1)
        self.ack_wait.set()

    async def run(self, start: float, end: float) -> None:
        period = 1.0 / self.spec.rate
        next_at = start + random.random() * period
        loop = asyncio.get_running_loop()
        while next_at < end:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            while self.spec.window and self.unacked >= self.spec.window:
                self.ack_wait.clear()
                remaining = end - loop.time()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(self.ack_wait.wait(), remaining)
                except TimeoutError:
                    return
            self.send()
            # A sender held back by its window does not burst to catch up.
            next_at = max(next_at + period, loop.time() - period)


class Worker:
    """Runs in a worker process: owns its connections and reports to the coordinator."""

    def __init__(self, index: int, targets: list[Target], specs: list[ConnSpec],
                 pipe: multiprocessing.connection.Connection) -> None:
        self.index = index
        self.targets = targets
        self.specs = specs
        self.pipe = pipe
        self.clients: list[WsClient | None] = [None] * len(specs)
        self.stats = Stats()
        self.senders: dict[int, SenderState] = {}

    def on_text(self, client: WsClient, data: bytes) -> None:
        if not client.measured:
            if data.startswith(MESSAGE_PREFIX):
                self.stats.unmeasured_delivered += 1
            return
        if data.startswith(MESSAGE_PREFIX):
            stats = self.stats
            at = data.find(CLIENT_ID_MARK)
            if at < 0:
                stats.delivered += 1
                return
            start = at + len(CLIENT_ID_MARK)
            client_id = data[start:data.index(b'"', start)]
            if client_id in client.seen:
                stats.duplicates += 1
                return
            client.seen.add(client_id)
            stats.delivered += 1
            sent_ns = int(data[start:data.index(b"-", start)])
            stats.latencies_ns.append(time.time_ns() - sent_ns)
            stats.arrivals_ns.append(client.arrived_ns - sent_ns)
        elif data.startswith(ACK_PREFIX):
            self.stats.acks += 1
            if client.sender is not None:
                client.sender.acked()
        elif ERROR_MARK in data:
            at = data.find(b'"code":"')
            code = data[at + 8:data.index(b'"', at + 8)].decode() if at >= 0 else "?"
            self.stats.errors[code] += 1
            if client.sender is not None and code == "rate_limited":
                client.sender.acked()
        else:
            self.stats.other += 1

    async def open_one(self, i: int) -> float:
        spec = self.specs[i]
        target = self.targets[spec.target or 0]
        started = time.perf_counter()
        url = parse_uri(target.ws_url)
        client = WsClient(self, target.ws_url, target.origin,
                          target.deflate, measured=spec.measured)
        await client.connect(url.host, url.port)
        try:
            await asyncio.wait_for(client.opened, 30)
            async with asyncio.timeout(30):
                hello = _json(await client.next_frame())
            auth: dict[str, Any] = {"type": "auth", "channels": spec.channels}
            if spec.token is not None:
                auth["token"] = spec.token
            if spec.key_pem is not None:
                from chat.client.device import DeviceKey

                key = DeviceKey.from_pem(spec.key_pem)
                auth["proof"] = key.proof("GET", target.ws_url,
                                          nonce=hello.get("dpop_nonce"),
                                          access_token=spec.token, iat=int(time.time()))
            client.send_text(_dumps(auth))
            async with asyncio.timeout(60):
                while True:
                    frame = _json(await client.next_frame())
                    if frame.get("type") == "ready":
                        break
                    if frame.get("type") == "error":
                        raise ConnectionError(f"{frame.get('code')}: {frame.get('message')}")
        except BaseException:
            client.close()
            raise
        elapsed = time.perf_counter() - started
        # Anything queued behind ready (presence, say) goes through the live path.
        while not client.early.empty():
            self.on_text(client, client.early.get_nowait())
        client.live = True
        self.clients[i] = client
        return elapsed

    async def connect_all(self, concurrency: int) -> dict[str, Any]:
        gate = asyncio.Semaphore(concurrency)
        times: list[float] = []
        errors: Counter[str] = Counter()

        async def one(i: int) -> None:
            async with gate:
                try:
                    times.append(await self.open_one(i))
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(self.specs))))
        return {"connected": len(times), "failed": sum(errors.values()),
                "errors": dict(errors.most_common(5)), "times": times,
                "wall": time.perf_counter() - started}

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            for client in self.clients:
                if client is not None and client.live:
                    client.send_text('{"type":"ping"}')

    async def run_senders(self, senders: list[SenderSpec], start_wall: float,
                          duration: float) -> dict[int, int]:
        loop = asyncio.get_running_loop()
        # The coordinator's start moment, on this loop's clock.
        start = loop.time() + max(0.0, start_wall - time.monotonic())
        states = []
        for spec in senders:
            client = self.clients[spec.index]
            if client is None or not client.live:
                continue
            state = SenderState(self, client, spec)
            client.sender = state
            states.append(state)
        await asyncio.gather(*(s.run(start, start + duration) for s in states))
        sent: Counter[int] = Counter()
        for state in states:
            sent[state.spec.channel_id] += state.sent
            if state.client.sender is state:
                state.client.sender = None
        return dict(sent)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        beat = asyncio.create_task(self.heartbeat())
        try:
            while True:
                command, arg = await loop.run_in_executor(None, self.pipe.recv)
                if command == "connect":
                    reply: Any = await self.connect_all(int(arg))
                elif command == "send":
                    reply = await self.run_senders(*arg)
                elif command == "count":
                    reply = self.stats.delivered
                elif command == "stall":
                    for i in arg:
                        client = self.clients[i]
                        if client is not None:
                            client.stall()
                    reply = len(arg)
                elif command == "resume":
                    for client in self.clients:
                        if client is not None:
                            client.resume()
                    reply = None
                elif command == "collect":
                    reply, self.stats = self.stats, Stats()
                    for client in self.clients:
                        if client is not None:
                            client.seen.clear()
                elif command == "close":
                    for client in self.clients:
                        if client is not None:
                            client.close()
                    self.pipe.send(None)
                    return
                else:
                    reply = ValueError(f"unknown command {command}")
                self.pipe.send(reply)
        finally:
            beat.cancel()


def _json(data: bytes) -> dict[str, Any]:
    import json

    value = json.loads(data)
    return value if isinstance(value, dict) else {}


def _dumps(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _worker_main(index: int, targets: list[Target], specs: list[ConnSpec],
                 pipe: multiprocessing.connection.Connection) -> None:
    raise_fd_limit()
    # The phones' CPUs are not the server's: on a shared machine the server is served
    # first, and the generator reads what arrived when a core is free (arrival times
    # are the kernel's, so its lag is not counted against the server).
    os.nice(GENERATOR_NICE)
    asyncio.run(Worker(index, targets, specs, pipe).serve())


# --- the coordinator's side -------------------------------------------------------------

@dataclass
class PhaseResult:
    """What one sending phase measured, summed over the workers."""

    sent: dict[int, int]
    expected: int
    delivered: int
    latencies_ns: array[int]
    arrivals_ns: array[int]
    acks: int
    errors: dict[str, int]
    closed: int
    drained_in: float
    unmeasured_delivered: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


class LoadGenerator:
    """Worker processes holding ``specs`` (dealt out round-robin), connected to
    ``target`` or spread over several targets (see :func:`assign_targets`)."""

    def __init__(self, target: Target | Sequence[Target], specs: list[ConnSpec], *,
                 workers: int) -> None:
        targets = [target] if isinstance(target, Target) else list(target)
        self.targets = targets
        specs = assign_targets(specs, len(targets))
        self.specs = specs
        ctx = multiprocessing.get_context("spawn")
        self.parts: list[list[int]] = [list(range(w, len(specs), workers))
                                       for w in range(workers)]
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[Any] = []
        for w, part in enumerate(self.parts):
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=_worker_main,
                                  args=(w, targets, [specs[i] for i in part], theirs),
                                  daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _all(self, command: str, args: list[Any] | None = None) -> list[Any]:
        for i, pipe in enumerate(self.pipes):
            pipe.send((command, None if args is None else args[i]))
        replies = [pipe.recv() for pipe in self.pipes]
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def connect(self, *, concurrency: int = 64, with_times: bool = False) -> dict[str, Any]:
        """Open and authenticate every connection: counts, rate, and connect times in
        milliseconds (percentiles; and every one in ``times_ms`` if ``with_times``)."""
        per = max(1, concurrency // len(self.pipes))
        started = time.perf_counter()
        replies = self._all("connect", [per] * len(self.pipes))
        wall = time.perf_counter() - started
        times = sorted(t * 1000 for r in replies for t in r["times"])
        errors: Counter[str] = Counter()
        for r in replies:
            errors.update(r["errors"])
        connected = sum(r["connected"] for r in replies)
        return {"connected": connected, "failed": sum(r["failed"] for r in replies),
                "errors": dict(errors), "wall_s": wall,
                "rate_per_s": connected / wall if wall else 0.0,
                "connect_ms": percentiles(times), **({"times_ms": times} if with_times else {})}

    def run_phase(self, senders: list[SenderSpec], duration: float,
                  members: dict[int, int], *, drain_timeout: float = 15.0) -> PhaseResult:
        """Send for ``duration`` seconds, then wait until every expected delivery
        (messages sent × connected members of their channel) arrived or the timeout."""
        self._all("collect")  # start from zero
        by_worker: list[list[SenderSpec]] = [[] for _ in self.pipes]
        where = {i: (w, j) for w, part in enumerate(self.parts) for j, i in enumerate(part)}
        for spec in senders:
            w, j = where[spec.index]
            by_worker[w].append(SenderSpec(j, spec.channel_id, spec.rate, spec.window,
                                           spec.body))
        start = time.monotonic() + 0.2
        replies = self._all("send", [(s, start, duration) for s in by_worker])
        sent: Counter[int] = Counter()
        for reply in replies:
            sent.update(reply)
        expected = sum(n * members.get(c, 0) for c, n in sent.items())
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < drain_timeout:
            if sum(self._all("count")) >= expected:
                break
            time.sleep(0.05)
        drained_in = time.monotonic() - drain_started
        stats: list[Stats] = self._all("collect")
        latencies: array[int] = array("q")
        arrivals: array[int] = array("q")
        errors: Counter[str] = Counter()
        close_codes: Counter[str] = Counter()
        for s in stats:
            latencies.extend(s.latencies_ns)
            arrivals.extend(s.arrivals_ns)
            errors.update(s.errors)
            close_codes.update(s.close_codes)
        return PhaseResult(sent=dict(sent), expected=expected,
                           delivered=sum(s.delivered for s in stats),
                           latencies_ns=latencies, arrivals_ns=arrivals,
                           acks=sum(s.acks for s in stats),
                           errors=dict(errors), closed=sum(s.closed for s in stats),
                           drained_in=drained_in,
                           unmeasured_delivered=sum(s.unmeasured_delivered for s in stats),
                           close_codes=dict(close_codes),
                           duplicates=sum(s.duplicates for s in stats))

    def stall(self, indexes: list[int]) -> None:
        """Connections ``indexes`` stop reading (see :meth:`WsClient.stall`)."""
        by_worker: list[list[int]] = [[] for _ in self.pipes]
        where = {i: (w, j) for w, part in enumerate(self.parts) for j, i in enumerate(part)}
        for index in indexes:
            w, j = where[index]
            by_worker[w].append(j)
        self._all("stall", by_worker)

    def resume(self) -> dict[str, Any]:
        """Stalled connections read again; then what they got and how they ended (the
        counts since the last phase: messages received, close codes)."""
        self._all("resume")
        time.sleep(2.0)  # they read what waited in their buffers, then the close
        stats: list[Stats] = self._all("collect")
        close_codes: Counter[str] = Counter()
        for s in stats:
            close_codes.update(s.close_codes)
        return {"messages_read_after_resuming": sum(s.unmeasured_delivered for s in stats),
                "close_codes": dict(close_codes)}

    def close(self) -> None:
        try:
            self._all("close")
        except (EOFError, OSError):
            pass
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def percentiles(values: list[float] | array[int], scale: float = 1.0) -> dict[str, float]:
    """p50/p95/p99/max of ``values`` × ``scale`` (empty: zeros)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * scale, 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}
