"""The bare-framework baseline: the same relay as one Starlette websocket route on
uvicorn (``ws="websockets-sansio"``, as Tsunagu is served).

    python -m bench.baselines.starlette_relay --port 8102 [--deflate]
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.baselines.wire import HELLO, PONG, READY, Relay


def create_app() -> Starlette:
    relay: Relay[WebSocket] = Relay()
    counter = 0

    async def endpoint(ws: WebSocket) -> None:
        nonlocal counter
        await ws.accept()
        counter += 1
        user = counter
        channels: list[int] = []
        await ws.send_text(HELLO)
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                kind = frame.get("type")
                if kind == "send":
                    channel_id, message, ack = relay.message(frame, user)
                    for member in tuple(relay.by_channel.get(channel_id, ())):
                        try:
                            await member.send_text(message)
                        except Exception:  # that member went away
                            pass
                    await ws.send_text(ack)
                elif kind == "auth":
                    channels = [int(c) for c in frame.get("channels", [])]
                    relay.join(ws, channels)
                    await ws.send_text(READY)
                elif kind == "ping":
                    await ws.send_text(PONG)
        except WebSocketDisconnect:
            pass
        finally:
            relay.leave(ws, channels)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, ws="websockets-sansio",
                ws_per_message_deflate=args.deflate, ws_max_size=1024 * 1024,
                log_level="warning", backlog=4096)
