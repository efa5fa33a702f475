"""Settings read once from an environment mapping (chat/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.config import DEFAULT_VAR_DIR, Settings, SettingsError, is_loopback_host


def test_an_empty_environment_gives_the_embedded_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///var/tsunagu.db"
    assert settings.bus_url == "memory://"
    assert settings.var_dir == DEFAULT_VAR_DIR == Path("var")
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.dev_sessions is False
    assert settings.dev_sessions_allowed is False
    assert settings.allowed_origins == ()


def test_from_env_does_not_read_the_process_environment_when_given_a_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAT_PORT", "not-a-port")
    monkeypatch.setenv("CHAT_HOST", "0.0.0.0")
    settings = Settings.from_env({})
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"


def test_from_env_without_a_mapping_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAT_PORT", "8123")
    assert Settings.from_env().port == 8123


def test_the_default_database_lives_in_the_var_dir() -> None:
    settings = Settings.from_env({"CHAT_VAR_DIR": "/srv/tsunagu"})
    assert settings.var_dir == Path("/srv/tsunagu")
    assert settings.database_url == "sqlite+aiosqlite:////srv/tsunagu/tsunagu.db"


@pytest.mark.parametrize("url", [
    "postgresql+asyncpg://chat:pw@db.city.local/tsunagu",
    "postgresql://localhost/tsunagu",
    "sqlite+aiosqlite:///tmp/x.db",
    "sqlite+aiosqlite:///:memory:",
])
def test_chat_database_url_is_taken_as_given(url: str) -> None:
    assert Settings.from_env({"CHAT_DATABASE_URL": url}).database_url == url


def test_an_empty_chat_database_url_falls_back_to_the_default() -> None:
    assert Settings.from_env({"CHAT_DATABASE_URL": ""}).database_url == \
        "sqlite+aiosqlite:///var/tsunagu.db"


@pytest.mark.parametrize("url", ["mysql://db/tsunagu", "oracle://db", "http://db",
                                 "/var/tsunagu.db"])
def test_a_database_url_that_is_not_sqlite_or_postgresql_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="CHAT_DATABASE_URL"):
        Settings.from_env({"CHAT_DATABASE_URL": url})


@pytest.mark.parametrize("url", ["memory://", "redis://localhost:6379/0",
                                 "rediss://cache.city.local:6380"])
def test_memory_and_redis_bus_urls_are_accepted(url: str) -> None:
    assert Settings.from_env({"CHAT_BUS_URL": url}).bus_url == url


@pytest.mark.parametrize("url", ["kafka://broker", "nats://x", "", "http://redis", "redis"])
def test_other_bus_urls_are_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="CHAT_BUS_URL"):
        Settings.from_env({"CHAT_BUS_URL": url})


def test_chat_port_is_parsed_as_an_integer() -> None:
    assert Settings.from_env({"CHAT_PORT": "8443"}).port == 8443


@pytest.mark.parametrize("port", ["eighty", "", "80.5", "0x50", "70000", "-1"])
def test_a_port_that_is_not_a_valid_port_number_is_refused(port: str) -> None:
    with pytest.raises(SettingsError, match="CHAT_PORT"):
        Settings.from_env({"CHAT_PORT": port})


def test_settings_errors_are_value_errors() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_dev_sessions_flag_values_meaning_on(value: str) -> None:
    assert Settings.from_env({"CHAT_DEV_SESSIONS": value}).dev_sessions is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "", "enabled"])
def test_dev_sessions_flag_values_meaning_off(value: str) -> None:
    assert Settings.from_env({"CHAT_DEV_SESSIONS": value}).dev_sessions is False


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_dev_sessions_are_allowed_when_enabled_on_a_loopback_host(host: str) -> None:
    settings = Settings.from_env({"CHAT_DEV_SESSIONS": "1", "CHAT_HOST": host})
    assert settings.dev_sessions_allowed is True


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5",
                                  "chat.city.local", "localhost.evil.example", ""])
def test_dev_sessions_are_refused_on_a_non_loopback_host_even_when_enabled(host: str) -> None:
    settings = Settings.from_env({"CHAT_DEV_SESSIONS": "1", "CHAT_HOST": host})
    assert settings.dev_sessions is True
    assert settings.dev_sessions_allowed is False


def test_dev_sessions_are_refused_on_loopback_unless_enabled() -> None:
    settings = Settings.from_env({"CHAT_HOST": "127.0.0.1"})
    assert settings.dev_sessions_allowed is False


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.255.255.254", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("192.168.0.1", False), ("::", False),
    ("example.org", False),
])
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_default_origins_are_the_loopback_names_on_the_configured_port() -> None:
    settings = Settings.from_env({"CHAT_PORT": "8123"})
    assert "http://localhost:8123" in settings.origins
    assert "http://127.0.0.1:8123" in settings.origins
    assert "http://[::1]:8123" in settings.origins
    assert "http://localhost:8000" not in settings.origins


def test_allowed_origins_replace_the_defaults_and_ignore_blanks_and_spaces() -> None:
    settings = Settings.from_env(
        {"CHAT_ALLOWED_ORIGINS": " https://chat.city.local , ,https://admin.city.local,"})
    assert settings.allowed_origins == ("https://chat.city.local", "https://admin.city.local")
    assert settings.origins == frozenset({"https://chat.city.local",
                                          "https://admin.city.local"})


def test_with_overrides_returns_a_changed_copy() -> None:
    settings = Settings.from_env({})
    changed = settings.with_overrides(port=9000, dev_sessions=True)
    assert (changed.port, changed.dev_sessions) == (9000, True)
    assert (settings.port, settings.dev_sessions) == (8000, False)
    assert changed.node_id == settings.node_id


def test_a_frame_limit_above_the_transport_limit_is_refused() -> None:
    settings = Settings.from_env({}).with_overrides(max_frame_bytes=2048,
                                                    transport_max_bytes=1024)
    with pytest.raises(SettingsError, match="max_frame_bytes"):
        settings.validate()


def test_each_node_gets_its_own_random_id() -> None:
    ids = {Settings.from_env({}).node_id for _ in range(5)}
    assert len(ids) == 5
    assert all(len(node_id) == 8 for node_id in ids)


def test_the_photo_limit_and_the_push_contact_come_from_the_environment() -> None:
    defaults = Settings.from_env({})
    assert defaults.max_upload_bytes == 10 * 1024 * 1024
    assert defaults.push_contact.startswith("mailto:")
    assert not defaults.push_allow_http_loopback
    settings = Settings.from_env({"CHAT_MAX_UPLOAD_MB": "2.5",
                                  "CHAT_VAPID_SUBJECT": "mailto:joho@city.example.jp"})
    assert settings.max_upload_bytes == int(2.5 * 1024 * 1024)
    assert settings.push_contact == "mailto:joho@city.example.jp"
    public = Settings.from_env({"CHAT_PUBLIC_URL": "https://chat.city.example"})
    assert public.push_contact == "https://chat.city.example"


@pytest.mark.parametrize("env", [
    {"CHAT_MAX_UPLOAD_MB": "0"}, {"CHAT_MAX_UPLOAD_MB": "ten"},
    {"CHAT_MAX_UPLOAD_MB": "1000"}, {"CHAT_VAPID_SUBJECT": "joho@city.example.jp"},
])
def test_a_bad_photo_limit_or_push_contact_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_deflate_and_the_sign_in_limit_come_from_the_environment() -> None:
    assert Settings.from_env({}).ws_per_message_deflate is False
    settings = Settings.from_env({"CHAT_WS_PER_MESSAGE_DEFLATE": "1",
                                  "CHAT_SIGN_IN_ATTEMPTS_PER_MINUTE": "600",
                                  "CHAT_SIGN_IN_BURST": "300"})
    assert settings.ws_per_message_deflate is True
    assert (settings.sign_in_attempts_per_minute, settings.sign_in_burst) == (600.0, 300)


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_bad_sign_in_limit_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="CHAT_SIGN_IN_ATTEMPTS_PER_MINUTE"):
        Settings.from_env({"CHAT_SIGN_IN_ATTEMPTS_PER_MINUTE": value})


def test_how_long_unsent_photos_and_the_pbx_log_are_kept_come_from_the_environment(
) -> None:
    defaults = Settings.from_env({})
    assert defaults.unsent_upload_seconds == 7 * 24 * 3600
    assert defaults.pbx_log_seconds == 90 * 24 * 3600
    settings = Settings.from_env({"CHAT_UNSENT_UPLOAD_HOURS": "48", "CHAT_PBX_LOG_DAYS": "30"})
    assert (settings.unsent_upload_seconds, settings.pbx_log_seconds) == (
        48 * 3600, 30 * 24 * 3600)


@pytest.mark.parametrize("name", ["CHAT_UNSENT_UPLOAD_HOURS", "CHAT_PBX_LOG_DAYS"])
@pytest.mark.parametrize("value", ["0", "-1", "a week"])
def test_a_bad_keeping_period_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_the_resource_limits_come_from_the_environment() -> None:
    settings = Settings.from_env({"CHAT_WS_UNAUTH_PER_ADDRESS": "5",
                                  "CHAT_WS_UNAUTH_TOTAL": "50", "CHAT_WS_AUTH_TIMEOUT": "3",
                                  "CHAT_HTTP_HEADER_TIMEOUT": "4",
                                  "CHAT_HTTP_BODY_TIMEOUT": "60"})
    assert (settings.ws_unauth_per_address, settings.ws_unauth_total) == (5, 50)
    assert settings.ws_auth_timeout_seconds == 3.0
    assert (settings.http_header_timeout_seconds, settings.http_body_timeout_seconds) == (4, 60)
    defaults = Settings.from_env({})
    assert (defaults.ws_unauth_per_address, defaults.ws_unauth_total) == (20, 1000)
    assert (defaults.http_header_timeout_seconds, defaults.http_body_timeout_seconds) == (10, 120)


def test_the_fault_timeouts_come_from_the_environment() -> None:
    settings = Settings.from_env({"CHAT_SHUTDOWN_DRAIN_TIMEOUT": "4",
                                  "CHAT_DB_STATEMENT_TIMEOUT": "2.5",
                                  "CHAT_DB_LOCK_TIMEOUT": "1", "CHAT_DB_POOL_TIMEOUT": "3",
                                  "CHAT_DB_BULK_STATEMENT_TIMEOUT": "60"})
    assert settings.shutdown_drain_seconds == 4
    assert (settings.db_statement_timeout_seconds, settings.db_lock_timeout_seconds,
            settings.db_pool_timeout_seconds, settings.db_bulk_statement_timeout_seconds
            ) == (2.5, 1, 3, 60)
    defaults = Settings.from_env({})
    assert (defaults.shutdown_drain_seconds, defaults.db_statement_timeout_seconds,
            defaults.db_lock_timeout_seconds, defaults.db_pool_timeout_seconds,
            defaults.db_bulk_statement_timeout_seconds) == (10, 10, 5, 10, 600)


@pytest.mark.parametrize("env", [
    {"CHAT_DB_LOCK_TIMEOUT": "0"},
    {"CHAT_SHUTDOWN_DRAIN_TIMEOUT": "-1"},
    {"CHAT_DB_STATEMENT_TIMEOUT": "20", "CHAT_DB_BULK_STATEMENT_TIMEOUT": "10"},
    {"CHAT_WS_UNAUTH_PER_ADDRESS": "0"},
    {"CHAT_WS_UNAUTH_PER_ADDRESS": "30", "CHAT_WS_UNAUTH_TOTAL": "20"},
    {"CHAT_WS_AUTH_TIMEOUT": "0"},
    {"CHAT_HTTP_HEADER_TIMEOUT": "-1"},
    {"CHAT_HTTP_HEADER_TIMEOUT": "30", "CHAT_HTTP_BODY_TIMEOUT": "20"},
])
def test_bad_resource_limits_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_push_endpoint_settings_the_allow_list_and_the_loopback_test_switch() -> None:
    assert Settings.from_env({}).push_allowed_hosts == ()
    settings = Settings.from_env({"CHAT_PUSH_ALLOWED_HOSTS":
                                  "fcm.googleapis.com, *.push.apple.com"})
    assert settings.push_allowed_hosts == ("fcm.googleapis.com", "*.push.apple.com")
    with pytest.raises(SettingsError, match="CHAT_PUSH_ALLOWED_HOSTS"):
        Settings.from_env({"CHAT_PUSH_ALLOWED_HOSTS": "push.*.example"})
    # The test-only loopback switch is refused on a node staff reach by a public URL.
    local = Settings(database_url="sqlite://", push_allow_http_loopback=True)
    local.validate()
    public = local.with_overrides(public_url="https://chat.city.example")
    with pytest.raises(SettingsError, match="push_allow_http_loopback"):
        public.validate()
