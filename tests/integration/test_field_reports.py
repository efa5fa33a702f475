"""Field reports (被害報告) to the disaster HQ: posted through the card route with photos
and a position, stored once per client id, live to every HQ member, followed up on the
HQ board with audited status changes and position reads."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import httpx
from PIL import Image

from chat.actions.disaster import declare_disaster, set_hq_members
from chat.context import open_context
from chat.store.uow import TxMode, unit_of_work
from tests.support import RunningServer, auth_headers, beside, dev_token, signed_in
from tests.support.clients import ChatClient
from tests.support.people import ITO, NAKAMURA, SUZUKI, TANAKA, YAMADA


async def _declare(server: RunningServer, *, drill: bool = True) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [TANAKA, ITO], by="test")
        await declare_disaster(ctx, name="総合防災訓練", drill=drill, by="test")


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3000, 1500), (40, 90, 160)).save(out, "JPEG")
    return out.getvalue()


async def _request(server: RunningServer, token: str, method: str, path: str,
                   **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        return await http.request(method, path, headers={**auth_headers(token),
                                                         **kwargs.pop("headers", {})},
                                  **kwargs)


async def _photo(server: RunningServer, token: str) -> int:
    response = await _request(server, token, "POST", "/api/reports/photos",
                              content=_jpeg(), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 201, response.text
    photo = response.json()["photo"]
    assert photo["width"] == 2048                  # resized as chat photos are
    return int(photo["id"])


def _report(client_id: str, photos: list[int], **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "category": "flood", "severity": 3,
            "note": "  市役所前の道路が  冠水 ", "photo_ids": photos,
            "position": {"lat": 35.6895, "lon": 139.6917, "accuracy_m": 12.5},
            "taken_at": "2026-12-07T01:02:03Z", **extra}


async def test_a_report_with_photos_and_position_reaches_the_hq_once_and_live(
        server: RunningServer) -> None:
    await _declare(server)
    tanaka = await ChatClient.connect(server, await dev_token(server, TANAKA))
    ito = await ChatClient.connect(server, await dev_token(server, ITO))
    field = await dev_token(server, NAKAMURA)       # not an HQ member
    photos = [await _photo(server, field), await _photo(server, field)]
    client_id = uuid.uuid4().hex
    first = await _request(server, field, "POST", "/api/cards/report",
                           json=_report(client_id, photos))
    assert first.status_code == 201, first.text
    message = first.json()["message"]
    assert message["kind"] == "report" and "【訓練】被害報告：浸水（深刻）" in message["body"]
    card = message["data"]
    assert card["note"] == "市役所前の道路が 冠水" and card["photos"] == photos
    assert card["status"] == "new" and card["has_position"] is True
    assert "lat" not in str(card)                     # the position is not on the card
    for hq in (tanaka, ito):
        live = await hq.expect("message", lambda f: f["message"]["kind"] == "report")
        assert live["message"]["id"] == message["id"]
    again = await _request(server, field, "POST", "/api/cards/report",
                           json=_report(client_id, photos))
    assert again.status_code == 201 and again.json()["message"]["id"] == message["id"]
    await tanaka.expect_nothing("message", lambda f: f["message"]["kind"] == "report")
    async with open_context(beside(server.settings)) as ctx, \
            unit_of_work(ctx.db, TxMode.READ) as uow:
        rows = await uow.field_reports.board(
            (await uow.disasters.active()).id)  # type: ignore[union-attr]
    assert [r.message_id for r, _ in rows] == [message["id"]]
    assert rows[0][0].latitude_e6 == 35689500 and rows[0][0].accuracy_m == 12.5
    hq_token = await dev_token(server, TANAKA)
    image = await _request(server, hq_token, "GET", f"/api/reports/photos/{photos[0]}/thumb")
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    outsider = await _request(server, await dev_token(server, SUZUKI), "GET",
                              f"/api/reports/photos/{photos[0]}")
    assert outsider.status_code == 404


async def test_the_board_filters_and_status_changes_reach_every_hq_member(
        server: RunningServer) -> None:
    await _declare(server)
    tanaka = await ChatClient.connect(server, await dev_token(server, TANAKA))
    ito = await ChatClient.connect(server, await dev_token(server, ITO))
    field = await dev_token(server, NAKAMURA)
    posted = [(await _request(server, field, "POST", "/api/cards/report", json=_report(
        uuid.uuid4().hex, [], category=category, severity=severity,
        position=None))).json()["message"]["id"]
        for category, severity in (("fire", 2), ("road", 1))]
    hq_token = await dev_token(server, TANAKA)
    board = (await _request(server, hq_token, "GET", "/api/reports")).json()
    assert [r["message_id"] for r in board["reports"]] == posted[::-1]
    assert board["disaster"]["drill"] is True
    fires = (await _request(server, hq_token, "GET", "/api/reports",
                            params={"category": "fire"})).json()["reports"]
    assert [r["message_id"] for r in fires] == [posted[0]]
    changed = await _request(server, hq_token, "POST", f"/api/reports/{posted[0]}/status",
                             json={"status": "in_progress"})
    assert changed.status_code == 200, changed.text
    for hq in (tanaka, ito):
        update = await hq.expect("message.updated",
                                 lambda f: f["message"]["id"] == posted[0])
        data = update["message"]["data"]
        assert data["status"] == "in_progress" and data["status_label"] == "対応中"
        assert data["status_by"]["name"] and data["status_at"]
    in_progress = (await _request(server, hq_token, "GET", "/api/reports",
                                  params={"status": "in_progress"})).json()["reports"]
    assert [r["message_id"] for r in in_progress] == [posted[0]]
    refused = await _request(server, field, "POST", f"/api/reports/{posted[0]}/status",
                             json={"status": "done"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "hq_only"
    not_hq = await _request(server, field, "GET", "/api/reports")
    assert not_hq.status_code == 403
    async with open_context(beside(server.settings)) as ctx, \
            unit_of_work(ctx.db, TxMode.READ) as uow:
        events = [e for e in await uow.audit.recent(limit=50)
                  if e.action == "report.status_changed"]
    assert len(events) == 1


async def test_positions_are_read_only_through_the_audited_route(
        server: RunningServer) -> None:
    await _declare(server)
    field = await dev_token(server, NAKAMURA)
    with_position = (await _request(server, field, "POST", "/api/cards/report",
                                    json=_report(uuid.uuid4().hex, []))).json()["message"]
    without = (await _request(server, field, "POST", "/api/cards/report", json=_report(
        uuid.uuid4().hex, [], position=None))).json()["message"]
    admin = await dev_token(server, YAMADA)
    answer = (await _request(server, admin, "GET", "/api/reports/positions", params={
        "ids": f"{with_position['id']},{without['id']}"})).json()
    assert answer["positions"] == [{"message_id": with_position["id"], "lat": 35.6895,
                                    "lon": 139.6917, "accuracy_m": 12.5}]
    async with open_context(beside(server.settings)) as ctx, \
            unit_of_work(ctx.db, TxMode.READ) as uow:
        viewed = [e for e in await uow.audit.recent(limit=50)
                  if e.action == "reports.positions_viewed"]
    assert len(viewed) == 1 and str(with_position["id"]) in viewed[0].detail


async def test_reports_are_refused_without_a_disaster_or_with_bad_fields(
        server: RunningServer) -> None:
    field = await dev_token(server, NAKAMURA)
    none = await _request(server, field, "POST", "/api/cards/report",
                          json=_report(uuid.uuid4().hex, []))
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_active_disaster"
    await _declare(server, drill=False)
    for bad, field_name in (({"category": "meteor"}, "category"),
                            ({"severity": 5}, "severity"),
                            ({"position": {"lat": 91, "lon": 0, "accuracy_m": 5}},
                             "position.lat"),
                            ({"position": {"lat": 35, "lon": 139}}, "position.accuracy_m"),
                            ({"note": "あ" * 201}, "note"),
                            ({"photo_ids": [999999]}, "Photo")):
        refused = await _request(server, field, "POST", "/api/cards/report",
                                 json=_report(uuid.uuid4().hex, [], **bad))
        assert refused.status_code in (400, 404), refused.text
        assert field_name in refused.json()["error"]["message"]


BOUNDARY = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "市役所"},
     "geometry": {"type": "Point", "coordinates": [139.6917, 35.6895]}},
    {"type": "Feature", "properties": {"name": "市境"},
     "geometry": {"type": "Polygon", "coordinates": [[[139.6, 35.6], [139.8, 35.6],
                                                      [139.8, 35.8], [139.6, 35.6]]]}}]}


async def test_the_console_board_changes_a_status_and_takes_a_checked_boundary_file(
        server: RunningServer) -> None:
    await _declare(server)
    field = await dev_token(server, NAKAMURA)
    posted = (await _request(server, field, "POST", "/api/cards/report", json=_report(
        uuid.uuid4().hex, [], note="橋の欄干が破損"))).json()["message"]
    admin = await signed_in(server, YAMADA)
    async with admin:
        page = await admin.request("GET", "/admin/reports?category=flood")
        assert page.status_code == 200, page.text
        assert f'data-report="{posted["id"]}"' in page.text and "橋の欄干が破損" in page.text
        token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert token is not None
        changed = await admin.request("POST", f"/admin/reports/{posted['id']}/status",
                                      data={"csrf_token": token.group(1),
                                            "status": "acknowledged"})
        assert changed.status_code == 200 and "確認済（" in changed.text
        bad = await admin.request("POST", "/admin/reports/boundary",
                                  data={"csrf_token": token.group(1)},
                                  files={"file": ("city.geojson", b'{"type": "Point"}',
                                                  "application/geo+json")})
        assert bad.status_code == 400 and "FeatureCollection" in bad.text
        good = await admin.request("POST", "/admin/reports/boundary",
                                   data={"csrf_token": token.group(1)},
                                   files={"file": ("city.geojson",
                                                   json.dumps(BOUNDARY).encode(),
                                                   "application/geo+json")})
        assert good.status_code == 200 and "2件の地物" in good.text
    layer = (await _request(server, await dev_token(server, TANAKA), "GET",
                            "/api/reports/map")).json()
    assert layer == {"boundary": BOUNDARY, "tile_url": ""}


async def test_a_purge_of_the_report_takes_its_photos_and_the_sweep_leaves_them(
        server: RunningServer) -> None:
    await _declare(server)
    field = await dev_token(server, NAKAMURA)
    photo = await _photo(server, field)
    posted = (await _request(server, field, "POST", "/api/cards/report",
                             json=_report(uuid.uuid4().hex, [photo]))).json()["message"]
    async with open_context(beside(server.settings)) as ctx:
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            far_future = ctx.clock.now().replace(year=2100)
            # Linked to its report: never an unsent upload, however old.
            assert photo not in await uow.attachments.unsent_ids(far_future, after_id=0,
                                                                 limit=100)
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            assert await uow.attachments.delete_of_messages([posted["id"]]) == 1
            assert await uow.attachments.get(photo) is None
