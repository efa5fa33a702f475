"""Monitoring without a server (docs/monitoring.md): the alert rules name only metrics
the node exports, the hub's lag probe and gap count, the status-class count, JSON log
lines, and the settings."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from chat.bus.memory import MemoryBus
from chat.bus.topics import GAP, PROBE_TOPIC
from chat.config import Settings, SettingsError
from chat.hub import Hub
from chat.logs import JsonLines
from chat.metrics import Metrics, Readings, metric_names
from chat.web.monitoring import ResponseClasses
from tests.support import ManualClock

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "tsunagu-alerts.yml"
DOC = REPO / "docs" / "monitoring.md"
# Series Prometheus makes itself, not the node.
PROMETHEUS_OWN = {"up"}


def scraped(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in metrics.registry.collect() for s in family.samples}


def every_metric() -> set[str]:
    metrics = Metrics()
    metrics.read_from(Readings(lambda: 0, lambda: 0, dict, dict, lambda: 0, lambda: 0))
    metrics.audit_checkpoint = (0.0, 0)
    return metric_names(metrics)


def test_every_metric_the_alert_rules_name_is_exported() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"][0]["rules"]
    exported = every_metric() | PROMETHEUS_OWN
    assert {rule["alert"] for rule in rules} >= {
        "TsunaguNodeDown", "TsunaguAuditCheckpointTooOld", "TsunaguBusGapsRising",
        "TsunaguHttp5xx", "TsunaguSendLatencyHigh", "TsunaguDatabaseErrors",
        "TsunaguPushFailures"}
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        named = set(re.findall(r"\b(tsunagu_\w+|process_\w+|up)\b(?=\s*[{\[=<>!)]|\s*$)",
                               rule["expr"]))
        assert named, rule["alert"]
        assert named <= exported, (rule["alert"], named - exported)


def test_the_monitoring_doc_shows_the_committed_rules_and_lists_every_metric() -> None:
    doc = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    shown = [yaml.safe_load(block) for block in blocks if "groups:" in block]
    assert shown == [yaml.safe_load(RULES.read_text(encoding="utf-8"))]
    families = {name.removesuffix("_total") for name in every_metric()
                if name.startswith("tsunagu_")
                and not name.endswith(("_bucket", "_count", "_sum", "_created"))}
    for name in families:
        assert f"`{name}" in doc, name
    assert "`process_*`" in doc


async def test_the_hub_times_its_own_lag_probe_and_ignores_other_nodes() -> None:
    bus, clock, metrics = MemoryBus(), ManualClock(), Metrics()
    hub = Hub(bus, clock=clock, node_id="node-a", metrics=metrics)
    try:
        sent = clock.monotonic()
        clock.advance(0.25)
        hub.dispatch(PROBE_TOPIC, json.dumps({"node": "node-a", "at": sent}))
        hub.dispatch(PROBE_TOPIC, json.dumps({"node": "node-b", "at": sent - 100}))
        hub.dispatch(PROBE_TOPIC, "not json")
        hub.dispatch(GAP, "")
        samples = scraped(metrics)
        assert samples[("tsunagu_fanout_lag_seconds_count", ())] == 1
        assert samples[("tsunagu_fanout_lag_seconds_sum", ())] == pytest.approx(0.25)
        assert samples[("tsunagu_bus_gaps_total", ())] == 1
    finally:
        await bus.close()


async def test_responses_are_counted_by_status_class_and_an_error_as_5xx() -> None:
    metrics = Metrics()

    async def fine(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def broken(_request: Request) -> PlainTextResponse:
        raise RuntimeError("a bug")

    app = Starlette(routes=[Route("/fine", fine), Route("/broken", broken)],
                    middleware=[Middleware(ResponseClasses, metrics=metrics)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/fine")).status_code == 200
        assert (await http.get("/missing")).status_code == 404
        assert (await http.get("/broken")).status_code == 500
    samples = scraped(metrics)
    for status_class, count in (("2xx", 1), ("4xx", 1), ("5xx", 1), ("3xx", 0)):
        key = ("tsunagu_http_responses_total", (("status_class", status_class),))
        assert samples[key] == count, status_class


def test_a_json_log_line_carries_the_exception() -> None:
    try:
        raise ValueError("壊れた")
    except ValueError:
        record = logging.LogRecord("chat.test", logging.ERROR, __file__, 1,
                                   "failed %s", ("here",), sys.exc_info())
    line = JsonLines().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "chat.test"
    assert entry["message"] == "failed here"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", entry["time"])
    assert "Traceback" in entry["exception"] and "壊れた" in entry["exception"]


def test_monitoring_settings() -> None:
    defaults = Settings.from_env({})
    assert defaults.metrics_port is None and defaults.metrics_host == "127.0.0.1"
    assert defaults.log_format == "text"
    chosen = Settings.from_env({"CHAT_METRICS_PORT": "9464", "CHAT_LOG_FORMAT": "JSON",
                                "CHAT_METRICS_HOST": "10.0.0.5"})
    assert (chosen.metrics_port, chosen.metrics_host, chosen.log_format) == (
        9464, "10.0.0.5", "json")
    for env in ({"CHAT_METRICS_PORT": "0"}, {"CHAT_METRICS_PORT": "many"},
                {"CHAT_METRICS_PORT": "8000"}, {"CHAT_LOG_FORMAT": "xml"}):
        with pytest.raises(SettingsError):
            Settings.from_env(env)
