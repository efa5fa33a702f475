"""Every Prometheus metric a node exports, in one place (docs/monitoring.md lists them).

One :class:`Metrics` per app, with a registry of its own (never prometheus_client's
global one: the tests run several nodes in one process, and the CLI's contexts hold one
that nobody scrapes). It is made by ``chat.app.create_app``, carried on
:class:`chat.context.AppContext` and served on the node's metrics port
(``CHAT_METRICS_PORT``, chat/web/monitoring.py), never on the public one.

Two sorts of instrument. What happens on a path (a send, a database wait, an HTTP
response) is counted or observed where it happens, one call each, on children bound
once. What a node already keeps count of (its open websockets, push deliveries, refused
webhooks, the Redis subscription's reconnects) is read only when scraped
(:class:`_Readings`), so the hot paths pay nothing for it; and what needs the database
(the audit checkpoint's age) is refreshed by :meth:`Metrics.refresh` just before a
scrape is answered.

This module imports nothing of the app: the hub and the store call it, and it calls
back only through the plain functions handed to :meth:`Metrics.read_from`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Seconds: a send's answer is ~1-30 ms on the reference host (docs/performance.md); the
# upper buckets catch a stalled database.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 5.0)

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
DB_WAITS = ("pool", "sqlite_writer_turn")


@dataclass(frozen=True)
class Readings:
    """What a serving node reports when scraped, as functions of nothing (each cheap:
    counters the node keeps anyway)."""

    authenticated_sockets: Callable[[], int]
    unauthenticated_sockets: Callable[[], int]
    push_deliveries: Callable[[], Mapping[str, int]]    # outcome -> count
    webhook_refusals: Callable[[], Mapping[str, int]]   # reason code -> count
    bus_reconnects: Callable[[], int]                   # the bus backend's own
    bus_lost_publishes: Callable[[], int]               # events given up or dropped


class Metrics:
    """The node's registry and its instruments (names ``tsunagu_*``; Prometheus's
    conventions: counters end in ``_total``, durations are ``_seconds``)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.messages_stored = Counter(
            "tsunagu_messages_stored",
            "Messages people sent (the websocket send path), counted once their "
            "transaction committed; rate() gives messages per second. Cards posted by "
            "the system (notices, reports) are not counted.", registry=registry)
        self.send_latency = Histogram(
            "tsunagu_send_latency_seconds",
            "From a websocket send being run to its ack being ready: the group commit's "
            "queue, the transaction and its commit.", buckets=LATENCY_BUCKETS,
            registry=registry)
        self.fanout_lag = Histogram(
            "tsunagu_fanout_lag_seconds",
            "From a bus publish to the hub's dispatch on this node, measured by a probe "
            "the hub publishes every few seconds and hears back.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.bus_gaps = Counter(
            "tsunagu_bus_gaps",
            "Bus gap events heard by the hub (events were lost; every client here was "
            "told to resync).", registry=registry)
        self._hub_resubscribes = Counter(
            "tsunagu_hub_resubscribes",
            "Times the hub's bus listener failed and subscribed again.", registry=registry)
        db_errors = Counter(
            "tsunagu_db_errors",
            "Errors the database driver raised, by kind (disconnect, integrity, "
            "operational, other).", ["kind"], registry=registry)
        self._db_errors = {kind: db_errors.labels(kind) for kind in
                           ("disconnect", "integrity", "operational", "other")}
        db_wait = Histogram(
            "tsunagu_db_wait_seconds",
            "Time waited for a database connection from a pool, or (SQLite) for this "
            "process's writer turn.", ["what"], buckets=WAIT_BUCKETS, registry=registry)
        self.db_wait = {what: db_wait.labels(what) for what in DB_WAITS}
        http = Counter(
            "tsunagu_http_responses",
            "HTTP responses of the public port by status class (an unhandled error "
            "counts as 5xx).", ["status_class"], registry=registry)
        self.http_responses = {int(c[0]): http.labels(c) for c in STATUS_CLASSES}
        # (seconds since the newest audit checkpoint, entries after it), set by the
        # refresh before each scrape; None before the first checkpoint.
        self.audit_checkpoint: tuple[float, int] | None = None
        ProcessCollector(registry=registry)  # process_*: the names dashboards know
        self._readings: Readings | None = None
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        registry.register(_ReadingsCollector(self))

    # -- what other modules call ----------------------------------------------------------

    def hub_resubscribed(self) -> None:
        self._hub_resubscribes.inc()

    def db_error(self, kind: str) -> None:
        self._db_errors.get(kind, self._db_errors["other"]).inc()

    def read_from(self, readings: Readings) -> None:
        """A serving node's live counts, read at each scrape."""
        self._readings = readings

    def refresh_with(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run ``refresh`` before each scrape is answered (a database read)."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        """Bring the scrape-time gauges up to date; a failure is logged and the gauge
        keeps its last value (the scrape still answers)."""
        for refresh in self._refreshers:
            try:
                await refresh()
            except Exception:
                log.exception("refreshing a metric before a scrape failed")

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)


class _ReadingsCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        readings = self._metrics._readings
        if readings is not None:
            yield from _live(readings)
        checkpoint = self._metrics.audit_checkpoint
        if checkpoint is not None:
            age, unsigned = checkpoint
            yield GaugeMetricFamily(
                "tsunagu_audit_checkpoint_age_seconds",
                "Seconds since the newest signed audit checkpoint (read at each scrape; "
                "absent before the first).", value=age)
            yield GaugeMetricFamily(
                "tsunagu_audit_unsigned_entries",
                "Audit entries after the newest checkpoint, not signed yet (read at each "
                "scrape).", value=unsigned)


def _live(readings: Readings) -> Iterator[Metric]:
    sockets = GaugeMetricFamily(
        "tsunagu_websocket_connections",
        "Open websockets on this node: authenticated (signed in, receiving) or "
        "unauthenticated (waiting for their auth frame).", labels=["state"])
    sockets.add_metric(["authenticated"], readings.authenticated_sockets())
    sockets.add_metric(["unauthenticated"], readings.unauthenticated_sockets())
    yield sockets
    yield _counter_by("tsunagu_push_deliveries",
                      "Web Push deliveries by outcome (refused_ssrf: refused endpoints, "
                      "also counted in failed).", "outcome", readings.push_deliveries())
    yield _counter_by("tsunagu_webhook_refusals",
                      "PBX webhook requests refused, by reason code.", "reason",
                      readings.webhook_refusals())
    reconnects = CounterMetricFamily(
        "tsunagu_bus_reconnects",
        "Times the bus backend's subscription lost its connection and connected again "
        "(Redis; each is followed by a gap).")
    reconnects.add_metric([], readings.bus_reconnects())
    yield reconnects
    lost = CounterMetricFamily(
        "tsunagu_bus_lost_publishes",
        "Events this node could not publish on the bus (Redis unreachable past its "
        "retries, or its publish queue full); each loss is announced as a gap, so "
        "clients resync from the database.")
    lost.add_metric([], readings.bus_lost_publishes())
    yield lost


def _counter_by(name: str, documentation: str, label: str,
                counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def metric_names(metrics: Metrics) -> set[str]:
    """Every sample name ``metrics`` can export (the alert rules' test checks them)."""
    names: set[str] = set()
    for family in metrics.registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return names
