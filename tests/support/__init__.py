"""Test support, one module per job, re-exported here (``from tests.support import X``):

- ``servers``: a real uvicorn server on a loopback port and its database, the CLI, raw SQL;
- ``clients``: a websocket client that validates every frame, a stalled client, posting;
- ``sessions``: dev tokens and device-bound sessions (enrollment, passkey, sign-in);
- ``audit``: `tsunagu audit verify` and the recorded audit events;
- ``people``: the people of the demo city by name (``SUZUKI``, ``YAMADA`` …);
- ``clock``: an injected clock.

Two more are imported by module and not re-exported: ``tests.support.browser`` (the
browser tests' steps; it needs Playwright, which this package must not load for every
test) and ``tests.support.hub`` (frames and recording sockets for the hub's unit tests).

Tests import helpers from here, never from another test module.
"""

from tests.support.audit import events, user_id, verify
from tests.support.clients import (
    OPEN_CLIENTS,
    ChatClient,
    ProtocolError,
    StalledClient,
    close_open_clients,
    department_channel,
    post,
)
from tests.support.clock import ManualClock
from tests.support.servers import (
    FRAME_TIMEOUT,
    POSTGRES_URL,
    REDIS_URL,
    REPO_ROOT,
    RunningServer,
    ServedNode,
    base_settings,
    beside,
    create_postgres_database,
    drop_postgres_database,
    in_own_thread,
    prepare_database,
    run_tsunagu,
    serve_process,
    sql,
    start_server,
)
from tests.support.sessions import (
    api,
    auth_headers,
    dev_token,
    device_client,
    enrollment_code,
    read_until_closed,
    signed_in,
)

__all__ = [
    "FRAME_TIMEOUT", "OPEN_CLIENTS", "POSTGRES_URL", "REDIS_URL", "REPO_ROOT", "ChatClient",
    "ManualClock", "ProtocolError", "RunningServer", "ServedNode", "StalledClient", "api",
    "auth_headers", "base_settings", "beside", "close_open_clients",
    "create_postgres_database", "department_channel", "dev_token", "device_client",
    "drop_postgres_database", "enrollment_code", "events", "in_own_thread", "post",
    "prepare_database", "read_until_closed", "run_tsunagu", "serve_process", "signed_in",
    "sql", "start_server", "user_id", "verify"
]
