"""Phone memos (伝言メモ): an operator records one, it arrives as a structured notice in
the person's 「電話」 channel, and goes through the same claim-and-done flow."""

from __future__ import annotations

from tests.integration.pbx_helpers import KATO, SUZUKI, TANAKA, api_post, connect
from tests.support import RunningServer, dev_token, run_tsunagu

MEMO = {"caller_name": "山田", "company": "山田商事", "number": "03-1234-5678",
        "action": "call_back", "text": "見積の件でお電話ください"}


async def test_an_operator_memo_arrives_as_a_notice_and_is_claimed_then_done(
        server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    operator = await dev_token(server, KATO)
    response = await api_post(server, operator, "/api/memos",
                              {**MEMO, "for_user_id": suzuki.ready["user"]["id"]})
    assert response.status_code == 201, response.text
    sent = response.json()["message"]
    await suzuki.expect("channel.joined", lambda f: f["channel"]["name"] == "電話")
    memo = (await suzuki.expect("message", lambda f: f["message"]["kind"] == "memo"))["message"]
    assert memo["id"] == sent["id"] and memo["sender_id"] is None
    assert memo["body"].startswith(
        "伝言メモ（鈴木 花子さんへ）：山田商事 山田（03-1234-5678） より。")
    assert "折り返しお電話ください" in memo["body"] and "受付 加藤 恵" in memo["body"]
    card = memo["data"]
    assert card["notice"] == "memo" and card["action"] == "call_back"
    assert card["caller"]["tel"] == "tel:+81312345678"
    assert card["taken_by"]["name"] == "加藤 恵" and card["state"] == "open"

    token = await dev_token(server, SUZUKI)
    claimed = await api_post(server, token, f"/api/notices/{memo['id']}/claim")
    assert claimed.status_code == 200
    update = await suzuki.expect("message.updated", lambda f: f["message"]["id"] == memo["id"])
    assert update["message"]["data"]["claimed_by"]["name"] == "鈴木 花子"
    done = await api_post(server, token, f"/api/notices/{memo['id']}/done")
    assert done.status_code == 200
    update = await suzuki.expect("message.updated", lambda f: f["message"]["id"] == memo["id"])
    assert update["message"]["data"]["state"] == "done"
    audit = await run_tsunagu(server, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_a_memo_for_an_extension_reaches_its_owner(server: RunningServer) -> None:
    tanaka = await connect(server, TANAKA)
    operator = await dev_token(server, KATO)
    response = await api_post(server, operator, "/api/memos",
                              {**MEMO, "action": "will_call_again", "extension": "2201"})
    assert response.status_code == 201, response.text
    memo = (await tanaka.expect("message", lambda f: f["message"]["kind"] == "memo"))["message"]
    assert "また掛け直します" in memo["body"] and "田中 美咲さんへ" in memo["body"]


async def test_only_operators_record_memos_and_bad_memos_are_refused(
        server: RunningServer) -> None:
    staff = await dev_token(server, SUZUKI)
    refused = await api_post(server, staff, "/api/memos", {**MEMO, "extension": "2201"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "operator_only"
    operator = await dev_token(server, KATO)
    for body in ({**MEMO, "extension": "2201", "action": "sing"},
                 {**MEMO, "extension": "2201", "number": "not a number"},
                 {**MEMO},
                 {**MEMO, "extension": "2201", "for_user_id": 2}):
        response = await api_post(server, operator, "/api/memos", body)
        assert response.status_code == 400, body
    nobody = await api_post(server, operator, "/api/memos", {**MEMO, "extension": "9999"})
    assert nobody.status_code == 404
