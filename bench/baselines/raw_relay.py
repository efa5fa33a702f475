"""The raw baseline: a relay written with the ``websockets`` library only.

    python -m bench.baselines.raw_relay --port 8101 [--deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import json

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.baselines.wire import HELLO, PONG, READY, Relay


async def main(port: int, *, deflate: bool) -> None:
    relay: Relay[ServerConnection] = Relay()
    counter = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal counter
        channels: list[int] = []
        counter += 1
        user = counter
        await ws.send(HELLO)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "send":
                    channel_id, message, ack = relay.message(frame, user)
                    broadcast(relay.by_channel.get(channel_id, ()), message)
                    await ws.send(ack)
                elif kind == "auth":
                    channels = [int(c) for c in frame.get("channels", [])]
                    relay.join(ws, channels)
                    await ws.send(READY)
                elif kind == "ping":
                    await ws.send(PONG)
        finally:
            relay.leave(ws, channels)

    async with serve(handler, "127.0.0.1", port, compression="deflate" if deflate else None,
                     max_size=1024 * 1024, ping_interval=20, ping_timeout=20) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.port, deflate=args.deflate))
