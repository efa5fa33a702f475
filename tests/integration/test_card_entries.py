"""``POST /api/cards/{kind}``: one route for every card a person may post; each kind's
action module registers how (``chat/actions/card_entries.py``)."""

from __future__ import annotations

import httpx

from tests.integration.pbx_helpers import KATO, SUZUKI, api_post, connect
from tests.support import RunningServer, dev_token


async def test_a_memo_posted_through_the_card_route_arrives_like_one_through_api_memos(
        server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    operator = await dev_token(server, KATO)
    response = await api_post(server, operator, "/api/cards/memo", {
        "caller_name": "山田", "number": "03-1234-5678", "action": "message",
        "text": "資料を送りました", "for_user_id": suzuki.ready["user"]["id"]})
    assert response.status_code == 201, response.text
    sent = response.json()["message"]
    memo = (await suzuki.expect("message", lambda f: f["message"]["kind"] == "memo"))["message"]
    assert memo["id"] == sent["id"] and "伝言があります" in memo["body"]


async def test_the_card_route_refuses_kinds_nobody_posts_and_bad_fields(
        server: RunningServer) -> None:
    operator = await dev_token(server, KATO)
    for kind in ("no.such.kind", "text", "call.missed"):
        refused = await api_post(server, operator, f"/api/cards/{kind}", {})
        assert refused.status_code == 404, kind
        assert refused.json()["error"]["code"] == "unknown_card_kind"
    wrong = await api_post(server, operator, "/api/cards/memo",
                           {"caller_name": "山田", "for_user_id": "1"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "for_user_id must be an integer"
    staff = await dev_token(server, SUZUKI)
    forbidden = await api_post(server, staff, "/api/cards/memo",
                               {"caller_name": "山田", "extension": "2201"})
    assert forbidden.status_code == 403


async def test_the_card_route_needs_a_session_before_it_says_anything(
        server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        response = await client.post("/api/cards/no.such.kind", json={})
    assert response.status_code == 401
