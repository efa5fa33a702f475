"""Settings read once from the environment and validated.

No other module reads ``os.environ``: the composition root builds a :class:`Settings`
and hands it down.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from chat.domain.map_layer import MapLayerRejected, check_tile_url
from chat.domain.push_endpoints import parse_allowed_hosts

DEFAULT_VAR_DIR = Path("var")


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: the only binds the dev path accepts."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one server node."""

    database_url: str
    bus_url: str = "memory://"
    # Topics on a shared Redis are namespaced, so two deployments (or two test runs) on
    # one Redis never hear each other. Every node of one deployment uses the same prefix.
    bus_prefix: str = "tsunagu:"
    var_dir: Path = DEFAULT_VAR_DIR
    host: str = "127.0.0.1"
    port: int = 8000
    # The development-only session path (demo and tests). Refused unless the node is
    # bound to loopback as well; see chat.auth.dev.
    dev_sessions: bool = False
    allowed_origins: tuple[str, ...] = ()
    # Limits on what one client may send.
    max_frame_bytes: int = 64 * 1024
    transport_max_bytes: int = 1024 * 1024
    max_message_chars: int = 10_000
    # Frames a connection may hold while its socket is congested, then close 4001
    # (chat.hub.Connection's backlog).
    outgoing_queue_frames: int = 256
    # A session ends 12 hours after sign-in whatever happens (a working day and its
    # overtime; the next morning starts with the passkey), and earlier once no proven
    # request or connection has used it for an hour (a phone left in a drawer).
    session_ttl_seconds: int = 12 * 3600
    session_idle_seconds: int = 3600
    # How long an enrollment code may wait before the phone uses it.
    enrollment_code_ttl_seconds: int = 15 * 60
    # The URL staff open (behind a proxy: the public https URL). Enrollment links, the
    # WebAuthn relying party id and the accepted origins derive from it.
    public_url: str | None = None
    rp_name: str = "つなぐ Tsunagu"
    # DPoP proofs (RFC 9449 §11.1): accepted this long after iat, this far ahead of it.
    dpop_max_age_seconds: float = 300.0
    dpop_clock_skew_seconds: float = 30.0
    dpop_nonce_lifetime_seconds: float = 300.0
    # Enrollment and sign-in requests per client address and node (token bucket).
    # Generous: a whole city hall may sit behind one NAT address at 8:30 in the morning;
    # codes are unguessable anyway, this bounds audit rows and signature checks.
    sign_in_attempts_per_minute: float = 120.0
    sign_in_burst: int = 60
    # RFC 7692 permessage-deflate on the websocket. Off: a compressor is per connection,
    # so each frame would be compressed once per recipient instead of encoded once, and
    # each connection would hold zlib state (docs/performance.md measures both).
    ws_per_message_deflate: bool = False
    # Behind a TLS-terminating reverse proxy: the proxies whose X-Forwarded-Proto/-For
    # uvicorn trusts (so proofs' htu and client addresses are the public ones).
    forwarded_allow_ips: str | None = None
    # How often each node signs the audit chain's head (when it moved).
    audit_checkpoint_seconds: float = 3600.0
    # Anchors kept outside the database: each new checkpoint is appended as a JSON line
    # to this file (put it on another volume) and/or sent to the local syslog, so
    # `tsunagu audit verify --anchor FILE` can tell a log cut back past an anchored point.
    audit_anchor_file: Path | None = None
    # The syslog socket anchors go to: CHAT_AUDIT_ANCHOR_SYSLOG=1 is /dev/log, a path
    # another socket; None: no syslog.
    audit_anchor_syslog: str | None = None
    # Monitoring (docs/monitoring.md): Prometheus metrics on a port of their own, off
    # unless set; loopback unless told otherwise, never the public port.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # "text" (the default) or "json": one JSON object a line (chat.logs).
    log_format: str = "text"
    # How often each node tells the others it is alive (the admin health page).
    node_heartbeat_seconds: float = 10.0
    # How often each node runs the retention purge (0: never; `tsunagu retention run`).
    retention_interval_seconds: float = 24 * 3600.0
    # A photo uploaded and never sent is removed by the retention run after this long
    # (the phone's outbox may hold its send through a long outage).
    unsent_upload_seconds: float = 7 * 24 * 3600.0
    # The PBX event log's raw bodies and the calls' numbers (callers' personal data) are
    # blanked by the retention run after this long; delivery ids stay (de-duplication).
    pbx_log_seconds: float = 90 * 24 * 3600.0
    # Off-hours policy (chat.domain.hours): on by default; the local demo turns it off.
    off_hours_policy: bool = True
    idle_timeout_seconds: float = 90.0
    send_rate_per_second: float = 10.0
    send_burst: int = 30
    history_page_max: int = 200
    # How often each node checks its connections' channels against the database.
    membership_reconcile_seconds: float = 30.0
    # PBX integration (docs/pbx.md). A call state shown beside a name clears after these
    # even when the PBX's end event is lost; every node sweeps the database this often.
    pbx_ringing_timeout_seconds: float = 120.0
    pbx_max_call_seconds: float = 4 * 3600.0
    pbx_sweep_seconds: float = 5.0
    # Standard Webhooks: webhook-timestamp accepted this far from our clock, either way.
    pbx_timestamp_tolerance_seconds: float = 300.0
    # The country of national numbers ("03-1234-5678" -> +81312345678).
    pbx_country_code: str = "81"
    # Photos: the largest upload accepted (refused before it is read in full).
    max_upload_bytes: int = 10 * 1024 * 1024
    # The HQ map's tiles from the city's own GIS server ("" for none: a grid and the
    # boundary file only); its origin joins the page's img-src (chat.web.headers).
    map_tile_url: str = ""
    # Web Push: the contact push services see in the VAPID token (RFC 8292 §2.1: a
    # mailto: or https: URI); by default the public https URL.
    vapid_subject: str | None = None
    # Tests only: accept http://127.0.0.1 push endpoints (a local push service).
    # Since the SSRF rules (chat.domain.push_endpoints) it is the one way past them: the
    # host spelled exactly 127.0.0.1 (a name resolving to loopback stays refused); not
    # read from the environment, and refused unless the public URL is loopback too.
    push_allow_http_loopback: bool = False
    # Web Push: the push services' hosts endpoints may name (``*.push.apple.com`` for a
    # domain's names); empty: any host whose addresses are public.
    push_allowed_hosts: tuple[str, ...] = ()
    # Urgent broadcasts (緊急放送): repeated to those who have not confirmed this often,
    # this many times at most (0: never); every node looks for due repeats this often.
    broadcast_repeat_seconds: float = 180.0
    broadcast_max_repeats: int = 3
    broadcast_sweep_seconds: float = 15.0
    node_id: str = field(default_factory=lambda: os.urandom(4).hex())
    # Resource limits (docs/security.md, "Resource limits"). Websockets that have not
    # authenticated yet, per client address and per node (chat.web.admission); more are
    # accepted and closed at once with 1013. Generous per address: a city hall behind
    # one NAT address reconnects all at once after a restart (clients back off).
    ws_unauth_per_address: int = 20
    ws_unauth_total: int = 1000
    # A websocket whose auth frame has not been accepted this long after it opened is
    # closed 1008 ("authentication timed out").
    ws_auth_timeout_seconds: float = 10.0
    # Slow HTTP clients (chat.web.slow_clients): the request line and headers must
    # arrive within this from the connection's (or the request's) first byte, and a
    # body may pause no longer than this between reads ...
    http_header_timeout_seconds: float = 10.0
    # ... and must be complete this long after its headers (a 10 MB photo at ~1 Mbit/s).
    http_body_timeout_seconds: float = 120.0
    # Faults (docs/architecture.md#faults). On SIGTERM a node stops taking connections
    # and sends, lets the writes in flight finish and their acks go out, then closes
    # every websocket with 1012; past this many seconds what is left is cut.
    shutdown_drain_seconds: float = 10.0
    # PostgreSQL, on a serving node: a statement running longer, or waiting longer for a
    # lock, is cancelled and the request answered with the retryable
    # ``storage_unavailable`` rather than left hanging; a request waiting longer for a
    # pooled connection likewise. Long work (exports, verification, the purge, imports:
    # snapshot reads and bulk writes) has its own, larger limit.
    db_statement_timeout_seconds: float = 10.0
    db_lock_timeout_seconds: float = 5.0
    db_pool_timeout_seconds: float = 10.0
    db_bulk_statement_timeout_seconds: float = 600.0

    @property
    def dev_sessions_allowed(self) -> bool:
        """The dev path needs both the explicit setting and a loopback bind."""
        return self.dev_sessions and is_loopback_host(self.host)

    @property
    def public_origin(self) -> str:
        """scheme://host[:port] staff open; ``http://localhost:PORT`` by default (WebAuthn
        needs a domain, never an IP address, and http only on localhost)."""
        if self.public_url:
            parts = urlsplit(self.public_url)
            return f"{parts.scheme}://{parts.netloc}"
        return f"http://localhost:{self.port}"

    @property
    def push_contact(self) -> str:
        """The VAPID ``sub`` claim."""
        if self.vapid_subject:
            return self.vapid_subject
        if self.public_origin.startswith("https://"):
            return self.public_origin
        return "mailto:tsunagu@localhost"

    @property
    def rp_id(self) -> str:
        """The WebAuthn relying party id: the public host name, without port."""
        return urlsplit(self.public_origin).hostname or "localhost"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` unless staff reach the node over http on loopback."""
        parts = urlsplit(self.public_origin)
        return not (parts.scheme == "http" and is_loopback_host(parts.hostname or ""))

    @property
    def origins(self) -> frozenset[str]:
        """Origins accepted on the websocket handshake (RFC 6455 §10.2) and in WebAuthn
        client data."""
        if self.allowed_origins:
            extra = {self.public_origin} if self.public_url else set()
            return frozenset({*self.allowed_origins, *extra})
        if self.public_url:
            return frozenset({self.public_origin})
        return frozenset(
            {self.public_origin, f"http://localhost:{self.port}",
             f"http://127.0.0.1:{self.port}", f"http://[::1]:{self.port}"}
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``CHAT_*`` variables; unset ones take the embedded defaults."""
        env = os.environ if env is None else env
        var_dir = Path(env.get("CHAT_VAR_DIR", str(DEFAULT_VAR_DIR)))
        database_url = env.get("CHAT_DATABASE_URL") or default_sqlite_url(var_dir)
        try:
            port = int(env.get("CHAT_PORT", "8000"))
        except ValueError as exc:
            raise SettingsError("CHAT_PORT must be an integer") from exc
        origins = tuple(o.strip() for o in env.get("CHAT_ALLOWED_ORIGINS", "").split(",")
                        if o.strip())
        try:
            idle_minutes = float(env.get("CHAT_SESSION_IDLE_MINUTES", "60"))
            session_hours = float(env.get("CHAT_SESSION_HOURS", "12"))
        except ValueError as exc:
            raise SettingsError("CHAT_SESSION_IDLE_MINUTES and CHAT_SESSION_HOURS must be "
                                "numbers") from exc
        settings = cls(
            database_url=database_url,
            bus_url=env.get("CHAT_BUS_URL", "memory://"),
            bus_prefix=env.get("CHAT_BUS_PREFIX", "tsunagu:"),
            var_dir=var_dir,
            host=env.get("CHAT_HOST", "127.0.0.1"),
            port=port,
            dev_sessions=_flag(env.get("CHAT_DEV_SESSIONS")),
            allowed_origins=origins,
            public_url=env.get("CHAT_PUBLIC_URL") or None,
            forwarded_allow_ips=env.get("CHAT_FORWARDED_ALLOW_IPS") or None,
            session_idle_seconds=int(idle_minutes * 60),
            session_ttl_seconds=int(session_hours * 3600),
            off_hours_policy=env.get("CHAT_OFF_HOURS_POLICY", "on").strip().lower()
            not in {"0", "off", "false", "no"},
            retention_interval_seconds=_hours(env, "CHAT_RETENTION_INTERVAL_HOURS", 24.0,
                                              zero_ok=True) * 3600,
            unsent_upload_seconds=_hours(env, "CHAT_UNSENT_UPLOAD_HOURS", 168.0) * 3600,
            pbx_log_seconds=_number(env, "CHAT_PBX_LOG_DAYS", 90.0) * 24 * 3600,
            pbx_max_call_seconds=_hours(env, "CHAT_PBX_MAX_CALL_HOURS", 4.0) * 3600,
            pbx_country_code=env.get("CHAT_PBX_COUNTRY_CODE", "81").strip().lstrip("+"),
            max_upload_bytes=int(_megabytes(env, "CHAT_MAX_UPLOAD_MB", 10.0)),
            map_tile_url=env.get("CHAT_MAP_TILE_URL", "").strip(),
            vapid_subject=env.get("CHAT_VAPID_SUBJECT") or None,
            ws_per_message_deflate=_flag(env.get("CHAT_WS_PER_MESSAGE_DEFLATE")),
            sign_in_attempts_per_minute=_number(env, "CHAT_SIGN_IN_ATTEMPTS_PER_MINUTE",
                                                120.0),
            sign_in_burst=int(_number(env, "CHAT_SIGN_IN_BURST", 60)),
            broadcast_repeat_seconds=_number(env, "CHAT_BROADCAST_REPEAT_MINUTES", 3.0) * 60,
            broadcast_max_repeats=_whole(env, "CHAT_BROADCAST_REPEATS", 3),
            ws_unauth_per_address=_whole(env, "CHAT_WS_UNAUTH_PER_ADDRESS", 20),
            ws_unauth_total=_whole(env, "CHAT_WS_UNAUTH_TOTAL", 1000),
            ws_auth_timeout_seconds=_number(env, "CHAT_WS_AUTH_TIMEOUT", 10.0),
            http_header_timeout_seconds=_number(env, "CHAT_HTTP_HEADER_TIMEOUT", 10.0),
            http_body_timeout_seconds=_number(env, "CHAT_HTTP_BODY_TIMEOUT", 120.0),
            shutdown_drain_seconds=_number(env, "CHAT_SHUTDOWN_DRAIN_TIMEOUT", 10.0),
            db_statement_timeout_seconds=_number(env, "CHAT_DB_STATEMENT_TIMEOUT", 10.0),
            db_lock_timeout_seconds=_number(env, "CHAT_DB_LOCK_TIMEOUT", 5.0),
            db_pool_timeout_seconds=_number(env, "CHAT_DB_POOL_TIMEOUT", 10.0),
            db_bulk_statement_timeout_seconds=_number(env, "CHAT_DB_BULK_STATEMENT_TIMEOUT",
                                                      600.0),
            push_allowed_hosts=parse_allowed_hosts(env.get("CHAT_PUSH_ALLOWED_HOSTS", "")),
            audit_anchor_file=(Path(env["CHAT_AUDIT_ANCHOR_FILE"])
                               if env.get("CHAT_AUDIT_ANCHOR_FILE") else None),
            audit_anchor_syslog=_syslog_socket(env.get("CHAT_AUDIT_ANCHOR_SYSLOG")),
            metrics_port=(_whole(env, "CHAT_METRICS_PORT", 0)
                          if env.get("CHAT_METRICS_PORT", "").strip() else None),
            metrics_host=env.get("CHAT_METRICS_HOST", "127.0.0.1").strip() or "127.0.0.1",
            log_format=env.get("CHAT_LOG_FORMAT", "text").strip().lower() or "text",
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not (self.database_url.startswith("sqlite") or
                self.database_url.startswith("postgresql")):
            raise SettingsError("CHAT_DATABASE_URL must be a sqlite or postgresql URL")
        scheme, sep, _ = self.bus_url.partition("://")
        if not sep or scheme not in {"memory", "redis", "rediss"}:
            raise SettingsError("CHAT_BUS_URL must be memory:// or redis://")
        if not 0 <= self.port <= 65535:
            raise SettingsError("CHAT_PORT must be between 0 and 65535")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise SettingsError("CHAT_PUBLIC_URL must be an absolute http(s) URL")
            if parts.scheme == "http" and parts.hostname != "localhost":
                raise SettingsError("CHAT_PUBLIC_URL must be https (http only on localhost)")
            try:
                ipaddress.ip_address(parts.hostname)
            except ValueError:
                pass
            else:
                raise SettingsError("CHAT_PUBLIC_URL needs a host name: WebAuthn refuses "
                                    "IP addresses")
        if not 60 <= self.session_idle_seconds <= self.session_ttl_seconds:
            raise SettingsError("the idle timeout must be at least a minute and no longer "
                                "than the session")
        if not (self.pbx_country_code.isdigit() and 1 <= len(self.pbx_country_code) <= 3):
            raise SettingsError("CHAT_PBX_COUNTRY_CODE must be 1 to 3 digits (e.g. 81)")
        if self.vapid_subject is not None and not self.vapid_subject.startswith(
                ("mailto:", "https://")):
            raise SettingsError("CHAT_VAPID_SUBJECT must be a mailto: or https: URI")
        if self.max_upload_bytes < 1024:
            raise SettingsError("CHAT_MAX_UPLOAD_MB is too small")
        if self.broadcast_repeat_seconds < 30 or not 0 <= self.broadcast_max_repeats <= 20:
            raise SettingsError("CHAT_BROADCAST_REPEAT_MINUTES must be at least 0.5 and "
                                "CHAT_BROADCAST_REPEATS between 0 and 20")
        try:
            check_tile_url(self.map_tile_url)
        except MapLayerRejected as error:
            raise SettingsError(f"CHAT_MAP_TILE_URL: {error}") from None
        if self.max_frame_bytes > self.transport_max_bytes:
            raise SettingsError("max_frame_bytes must not exceed transport_max_bytes")
        if not 1 <= self.ws_unauth_per_address <= self.ws_unauth_total:
            raise SettingsError("CHAT_WS_UNAUTH_PER_ADDRESS must be at least 1 and at most "
                                "CHAT_WS_UNAUTH_TOTAL")
        if min(self.shutdown_drain_seconds, self.db_statement_timeout_seconds,
               self.db_lock_timeout_seconds, self.db_pool_timeout_seconds) <= 0:
            raise SettingsError("CHAT_SHUTDOWN_DRAIN_TIMEOUT and the CHAT_DB_*_TIMEOUT "
                                "settings must be positive")
        if self.db_bulk_statement_timeout_seconds < self.db_statement_timeout_seconds:
            raise SettingsError("CHAT_DB_BULK_STATEMENT_TIMEOUT must not be shorter than "
                                "CHAT_DB_STATEMENT_TIMEOUT")
        if self.http_body_timeout_seconds < self.http_header_timeout_seconds:
            raise SettingsError("CHAT_HTTP_BODY_TIMEOUT must not be shorter than "
                                "CHAT_HTTP_HEADER_TIMEOUT")
        if self.push_allow_http_loopback and not is_loopback_host(
                urlsplit(self.public_origin).hostname or ""):
            raise SettingsError("push_allow_http_loopback is for tests on loopback only")
        if self.metrics_port is not None and not 1 <= self.metrics_port <= 65535:
            raise SettingsError("CHAT_METRICS_PORT must be between 1 and 65535")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise SettingsError("CHAT_METRICS_PORT must differ from CHAT_PORT: metrics "
                                "are never served on the public port")
        if self.log_format not in {"text", "json"}:
            raise SettingsError("CHAT_LOG_FORMAT must be text or json")
        if any(not h or "/" in h or "*" in h.removeprefix("*.")
               for h in self.push_allowed_hosts):
            raise SettingsError("CHAT_PUSH_ALLOWED_HOSTS: comma-separated host names, "
                                "*.domain for a domain's names")


def _hours(env: Mapping[str, str], name: str, default: float, *,
           zero_ok: bool = False) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of hours") from exc
    if value < 0 or (value == 0 and not zero_ok):
        raise SettingsError(f"{name} must be {'zero or ' if zero_ok else ''}positive")
    return value


def _syslog_socket(value: str | None) -> str | None:
    """``1``/``on``: the local syslog socket; a path: that socket; unset or ``0``: none."""
    text = (value or "").strip()
    if _flag(text):
        return "/dev/log"
    if not text or text.lower() in {"0", "off", "false", "no"}:
        return None
    return text


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, str(default)))
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number") from exc


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value


def _megabytes(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of megabytes") from exc
    if not 0 < value <= 100:
        raise SettingsError(f"{name} must be more than 0 and at most 100")
    return value * 1024 * 1024


def default_sqlite_url(var_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(var_dir / 'tsunagu.db').as_posix()}"
