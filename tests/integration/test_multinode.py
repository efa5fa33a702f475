"""Two nodes on one PostgreSQL database and one Redis bus behave as one service."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.support import ChatClient, dev_token
from tests.support.people import SUZUKI, TANAKA


async def test_messages_presence_and_receipts_cross_nodes(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "postgres":
        pytest.skip("several nodes need a shared bus (Redis)")
    node_a, node_b = make_server(), make_server()
    assert node_a.settings.node_id != node_b.settings.node_id
    suzuki = await ChatClient.connect(node_a, await dev_token(node_a, SUZUKI))
    tanaka = await ChatClient.connect(node_b, await dev_token(node_b, TANAKA))
    assert suzuki.ready is not None and tanaka.ready is not None
    tanaka_id = tanaka.ready["user"]["id"]
    await suzuki.expect("presence", lambda f: f["user_id"] == tanaka_id
                        and f["status"] == "online")
    group = next(c for c in suzuki.ready["channels"] if c["name"] == "忘年会幹事")["id"]
    message = (await suzuki.send_message(group, "別ノードにも届きますか"))["message"]
    received = await tanaka.expect("message")
    assert received["message"] == message
    await tanaka.send({"type": "read", "channel_id": group, "seq": message["seq"]})
    receipt = await suzuki.expect("read", lambda f: f["user_id"] == tanaka_id)
    assert receipt["seq"] == message["seq"]
    await tanaka.close()
    await suzuki.expect("presence", lambda f: f["user_id"] == tanaka_id
                        and f["status"] == "offline")
