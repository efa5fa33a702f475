"""The websocket protocol uvicorn runs for Tsunagu (chat/web/transport.py), on a recording
transport: what it writes is read back with the websockets library's sans-I/O client,
as a phone would read it. No socket, no server."""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
from collections.abc import AsyncIterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from chat.frames import encode
from chat.hub import Connection, Outgoing
from chat.web.transport import SINK_EXTENSION, WebSocketProtocol, text_frame


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes = 0
        self.closing = False
        self.aborted = False
        self.reading = True
        self.reading_stopped = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name in {"peername", "sockname"} else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def pause_reading(self) -> None:
        self.reading = False
        self.reading_stopped += 1

    def resume_reading(self) -> None:
        self.reading = True

    def take(self) -> bytes:
        data, self.written = bytes(self.written), bytearray()
        return data


class Phone:
    """A websocket opened on a :class:`WebSocketProtocol` over a recording transport;
    ``read()`` returns what the server wrote, as the client parses it."""

    def __init__(self, *, deflate: bool = False) -> None:
        self.client = ClientProtocol(
            parse_uri("ws://localhost/ws"),
            extensions=[ClientPerMessageDeflateFactory()] if deflate else None)
        self.transport = RecordingTransport()
        self.sink: asyncio.Future[WebSocketProtocol] = (
            asyncio.get_running_loop().create_future())
        self.done = asyncio.Event()
        config = Config(app=self._app, ws=WebSocketProtocol, interface="asgi3",
                        lifespan="off", proxy_headers=False, log_level="warning",
                        ws_per_message_deflate=deflate)
        config.load()
        self.protocol = WebSocketProtocol(config=config, server_state=ServerState(),
                                          app_state={})

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        self.sink.set_result(scope["extensions"][SINK_EXTENSION])
        await self.done.wait()

    async def open(self) -> WebSocketProtocol:
        self.protocol.connection_made(self.transport)
        self.client.send_request(self.client.connect())
        self.protocol.data_received(b"".join(self.client.data_to_send()))
        sink = await asyncio.wait_for(self.sink, 2)
        assert sink is self.protocol
        assert any(isinstance(e, Response) for e in self.read())
        return sink

    def read(self) -> list[Any]:
        self.client.receive_data(self.transport.take())
        return self.client.events_received()

    def texts(self) -> list[str]:
        return [bytes(e.data).decode() for e in self.read()
                if isinstance(e, Frame) and e.opcode is Opcode.TEXT]


@pytest.fixture
async def phones() -> AsyncIterator[list[Phone]]:
    opened: list[Phone] = []
    yield opened
    for phone in opened:
        phone.done.set()
        phone.protocol.connection_lost(None)
    await asyncio.sleep(0)


async def open_phone(phones: list[Phone], *, deflate: bool = False
                     ) -> tuple[Phone, WebSocketProtocol]:
    phone = Phone(deflate=deflate)
    phones.append(phone)
    return phone, await phone.open()


async def test_a_frame_is_serialised_once_and_the_same_bytes_go_to_every_socket(
        phones: list[Phone]) -> None:
    (a, sink_a), (b, sink_b) = await open_phone(phones), await open_phone(phones)
    frame = Outgoing(encode({"type": "typing", "channel_id": 7, "user_id": 1}))
    sink_a.write_frame(frame)
    wire = frame.wire
    assert wire is not None
    sink_b.write_frame(frame)
    assert frame.wire is wire
    written_a, written_b = a.transport.take(), b.transport.take()
    assert written_a == written_b == wire
    a.client.receive_data(written_a)
    (event,) = a.client.events_received()
    assert isinstance(event, Frame)
    assert json.loads(bytes(event.data)) == {"type": "typing", "channel_id": 7, "user_id": 1}


async def test_with_permessage_deflate_each_socket_compresses_for_itself(
        phones: list[Phone]) -> None:
    phone, sink = await open_phone(phones, deflate=True)
    text = encode({"type": "typing", "channel_id": 7, "user_id": 2})
    for _ in range(2):  # the second reuses the connection's compression context
        sink.write_frame(Outgoing(text))
    assert phone.texts() == [text, text]


async def test_frames_written_together_go_in_one_write_and_read_as_separate_messages(
        phones: list[Phone]) -> None:
    (a, sink_a), (b, sink_b) = await open_phone(phones), await open_phone(phones)
    texts = [encode({"type": "typing", "channel_id": 7, "user_id": n}) for n in (1, 2, 3)]
    frames = [Outgoing(text) for text in texts]
    sink_a.write_frame(frames[0])  # serialised already: its bytes are reused
    a.transport.writes = b.transport.writes = 0
    sink_a.write_frames(frames)
    sink_b.write_frames(frames[1:])
    assert a.transport.writes == b.transport.writes == 1
    assert a.texts() == [texts[0], *texts]
    assert b.texts() == texts[1:]


async def test_with_permessage_deflate_frames_written_together_are_compressed_each(
        phones: list[Phone]) -> None:
    phone, sink = await open_phone(phones, deflate=True)
    texts = [encode({"type": "typing", "channel_id": 7, "user_id": n}) for n in (1, 2)]
    phone.transport.writes = 0
    sink.write_frames([Outgoing(text) for text in texts])
    assert phone.transport.writes == 1
    assert phone.texts() == texts


async def test_a_socket_over_its_high_water_mark_is_congested_until_it_drains(
        phones: list[Phone]) -> None:
    _, sink = await open_phone(phones)
    drained: list[bool] = []
    sink.on_drained = lambda: drained.append(True)
    assert not sink.congested()
    sink.pause_writing()
    assert sink.congested()
    sink.resume_writing()
    assert not sink.congested()
    assert drained == [True]


async def test_a_close_goes_behind_what_was_written_and_an_unanswered_one_is_cut_off(
        phones: list[Phone]) -> None:
    phone, sink = await open_phone(phones)
    sink.close_timeout = 0.05
    sink.pause_writing()  # a stalled phone: the close does not wait for it to drain
    text = encode({"type": "typing", "channel_id": 7, "user_id": 3})
    sink.write_frame(Outgoing(text))
    sink.close_now(4001, "too slow: reconnect and resync")
    sink.write_frame(Outgoing(text))  # after the close: dropped
    sink.write_frames([Outgoing(text), Outgoing(text)])  # and these
    events = phone.read()
    assert [e.opcode for e in events] == [Opcode.TEXT, Opcode.CLOSE]
    assert phone.client.close_rcvd is not None
    assert phone.client.close_rcvd.code == 4001
    assert not phone.transport.aborted
    await asyncio.sleep(0.1)  # the phone never answers the close
    assert phone.transport.aborted


async def test_an_answered_close_ends_the_connection_without_cutting_it_off(
        phones: list[Phone]) -> None:
    phone, sink = await open_phone(phones)
    sink.close_timeout = 0.05
    sink.close_now(4002, "session expired")
    phone.read()
    sink.data_received(b"".join(phone.client.data_to_send()))  # the phone's answer
    await asyncio.sleep(0.1)
    assert phone.transport.closing and not phone.transport.aborted


async def test_reading_stops_only_while_two_frames_wait_for_the_session(
        phones: list[Phone]) -> None:
    phone, sink = await open_phone(phones)

    def client_sends(text: str) -> None:
        phone.client.send_text(text.encode())
        sink.data_received(b"".join(phone.client.data_to_send()))

    # A session waiting for its next frame takes it at once: reading goes on (uvicorn
    # stopped and restarted it for every frame, two epoll changes each).
    client_sends("one")
    assert phone.transport.reading and phone.transport.reading_stopped == 0
    assert (await sink.receive()) == {"type": "websocket.receive", "text": "one"}
    client_sends("two")
    assert phone.transport.reading_stopped == 0
    # A session busy with a command: what a client can make the node hold stays
    # bounded, and reading starts again once the session has taken it all.
    client_sends("three")
    assert not phone.transport.reading and phone.transport.reading_stopped == 1
    assert (await sink.receive())["text"] == "two"
    assert not phone.transport.reading
    assert (await sink.receive())["text"] == "three"
    assert phone.transport.reading


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_the_bytes_websockets_would_write(length: int) -> None:
    payload = ("あ" * length).encode()[:length]
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(
        mask=False, extensions=[])


async def test_a_delivery_to_a_writable_socket_is_one_call_into_it(
        phones: list[Phone]) -> None:
    """Python calls a delivery makes (a message of (h) is 20): the connection's offer
    and its isinstance, one call into the socket, the protocol's state, the
    transport's write. It was nine (congested, Event.is_set, write_frame, _closing and
    _wire besides)."""
    phone, sink = await open_phone(phones)
    conn = Connection(1, 1, max_backlog=10, sink=sink)
    conn.open()
    frames = [Outgoing(encode({"type": "typing", "channel_id": 7, "user_id": n}))
              for n in range(20)]
    for frame in frames:
        frame.wire = text_frame(frame.text.encode())  # serialised once, by the first socket
    profile = cProfile.Profile()
    profile.enable()
    for frame in frames:
        conn.offer(frame)
    profile.disable()
    calls = sum(stat[1] for key, stat in pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
                if "disable" not in key[2])
    assert calls / len(frames) <= 5
    assert len(phone.texts()) == len(frames)
