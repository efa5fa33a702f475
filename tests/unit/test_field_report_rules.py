"""The pure rules of field reports and the HQ map: what a report may hold, its card and
searchable text, and the boundary file and tile URL a city may give the map."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat.domain.cards.report import (
    Category,
    FieldReport,
    Position,
    ReportRuleError,
    ReportStatus,
    Severity,
    StatusChange,
    clean_note,
    parse_category,
    parse_position,
    parse_severity,
    parse_status,
)
from chat.domain.map_layer import (
    MAX_FEATURES,
    MapLayerRejected,
    check_layer,
    check_tile_url,
    tile_origin,
)
from chat.domain.notices import Person
from chat.web.headers import content_security_policy

SEEN = datetime(2026, 12, 7, 1, 5, tzinfo=UTC)


def test_a_position_is_checked_and_rounded_and_may_be_absent() -> None:
    assert parse_position(None) is None
    assert parse_position({"lat": 35.12345678, "lon": 139.1, "accuracy_m": 12.34}) == \
        Position(35.123457, 139.1, 12.3)
    for bad in ({"lat": 91, "lon": 0, "accuracy_m": 1}, {"lat": 0, "lon": -181, "accuracy_m": 1},
                {"lat": 0, "lon": 0, "accuracy_m": -1}, {"lat": 0, "lon": 0},
                {"lat": True, "lon": 0, "accuracy_m": 1}, {"lat": float("nan"), "lon": 0,
                                                           "accuracy_m": 1}, [35, 139]):
        with pytest.raises(ReportRuleError):
            parse_position(bad)


def test_categories_severities_statuses_and_notes() -> None:
    assert parse_category("landslide") is Category.LANDSLIDE
    assert parse_severity(3) is Severity.SEVERE
    assert parse_status("done") is ReportStatus.DONE
    for parse, bad in ((parse_category, "meteor"), (parse_severity, 4),
                       (parse_severity, "3"), (parse_severity, True), (parse_status, "closed")):
        with pytest.raises(ReportRuleError):
            parse(bad)
    assert clean_note("  道路が\n 陥没  ") == "道路が 陥没"
    with pytest.raises(ReportRuleError):
        clean_note("あ" * 201)


def test_the_card_never_carries_the_position_and_the_text_says_drill() -> None:
    report = FieldReport(Category.FLOOD, Severity.SEVERE, "市道3号線が冠水",
                         Position(35.0, 139.0, 10.0), SEEN, Person(8, "中村 由美"), True, (3, 4))
    assert report.body() == ("【訓練】被害報告：浸水（深刻）市道3号線が冠水"
                             "（報告 中村 由美 12月7日 10:05）")
    card = report.card(StatusChange(ReportStatus.NEW))
    assert card["has_position"] is True and card["photos"] == [3, 4]
    assert "35.0" not in str(card) and card["status_label"] == "新規"
    assert card["status_by"] is None


def test_a_boundary_file_must_be_a_bounded_feature_collection() -> None:
    point = {"type": "Feature", "properties": {"name": "市役所"},
             "geometry": {"type": "Point", "coordinates": [139.7, 35.7]}}
    assert check_layer({"type": "FeatureCollection", "features": [point]}, size=100)[
        "features"] == [point]
    for bad in ({"type": "Feature"}, {"type": "FeatureCollection", "features": {}},
                {"type": "FeatureCollection", "features": [{"type": "Point"}]},
                {"type": "FeatureCollection", "features": [
                    {**point, "geometry": {"type": "Point", "coordinates": [200, 35]}}]},
                {"type": "FeatureCollection", "features": [
                    {**point, "geometry": {"type": "Circle", "coordinates": [1, 2]}}]},
                {"type": "FeatureCollection", "features": [point] * (MAX_FEATURES + 1)}):
        with pytest.raises(MapLayerRejected):
            check_layer(bad, size=100)
    with pytest.raises(MapLayerRejected):
        check_layer({"type": "FeatureCollection", "features": []}, size=3 * 1024 * 1024)


def test_a_tile_url_is_the_citys_own_server_and_joins_the_csp() -> None:
    url = "https://gis.city.example.lg.jp/tiles/{z}/{x}/{y}.png"
    assert check_tile_url(f"  {url} ") == url and check_tile_url("") == ""
    for bad in ("ftp://gis/{z}/{x}/{y}", "https://gis.example/tiles.png",
                "https://user:pw@gis.example/{z}/{x}/{y}"):
        with pytest.raises(MapLayerRejected):
            check_tile_url(bad)
    origin = tile_origin(url)
    assert origin == "https://gis.city.example.lg.jp"
    assert f"img-src 'self' data: blob: {origin};" in content_security_policy(tile_origin=origin)
    assert "gis" not in content_security_policy()
