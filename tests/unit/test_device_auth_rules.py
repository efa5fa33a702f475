"""Pure pieces of device-bound sessions: WebAuthn challenges, the policy's next check,
instance secrets from an older release, and the settings that derive the RP id."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chat.auth.passkeys import ENROLL, SIGN_IN, ChallengeIssuer, user_handle
from chat.auth.policy import AccessPolicy
from chat.auth.replay import MemoryReplayCache
from chat.config import Settings, SettingsError
from chat.secrets import KEY_NAMES, InstanceSecrets

NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, a Wednesday
TOKYO = ZoneInfo("Asia/Tokyo")


def issuer(key: bytes = b"k" * 32) -> ChallengeIssuer:
    return ChallengeIssuer(key, MemoryReplayCache(), lifetime_seconds=180)


def test_a_challenge_is_bound_to_its_purpose_binding_key_and_lifetime() -> None:
    challenges = issuer()
    challenge = challenges.issue(ENROLL, NOW, binding=b"code-1")
    assert challenges.check(challenge, ENROLL, NOW, binding=b"code-1")
    assert challenges.check(challenge, ENROLL, NOW + timedelta(seconds=180),
                            binding=b"code-1")
    assert not challenges.check(challenge, ENROLL, NOW + timedelta(seconds=181),
                                binding=b"code-1")
    assert not challenges.check(challenge, SIGN_IN, NOW, binding=b"code-1")
    assert not challenges.check(challenge, ENROLL, NOW, binding=b"code-2")
    assert not issuer(b"x" * 32).check(challenge, ENROLL, NOW, binding=b"code-1")
    tampered = bytes([challenge[0]]) + bytes([challenge[1] ^ 1]) + challenge[2:]
    assert not challenges.check(tampered, ENROLL, NOW, binding=b"code-1")
    assert not challenges.check(b"short", ENROLL, NOW)
    assert challenges.issue(SIGN_IN, NOW) != challenges.issue(SIGN_IN, NOW)


async def test_a_challenge_is_redeemed_once() -> None:
    challenges = issuer()
    challenge = challenges.issue(SIGN_IN, NOW)
    assert await challenges.redeem(challenge, NOW)
    assert not await challenges.redeem(challenge, NOW + timedelta(seconds=1))


def test_the_user_handle_is_opaque_and_stable() -> None:
    assert user_handle(b"s" * 32, 7) == user_handle(b"s" * 32, 7)
    assert user_handle(b"s" * 32, 7) != user_handle(b"s" * 32, 8)
    assert len(user_handle(b"s" * 32, 7)) == 16
    # Keyed: another instance gives the same person another handle (no cross-site link).
    assert user_handle(b"t" * 32, 7) != user_handle(b"s" * 32, 7)


def test_the_policy_judges_again_at_closing_time_or_soon_in_disaster_mode() -> None:
    policy = AccessPolicy.from_values({})
    closing = datetime(2026, 11, 25, 17, 15, tzinfo=TOKYO)
    assert policy.next_check("staff", NOW) == closing
    assert policy.next_check("manager", NOW) is None
    disaster = AccessPolicy.from_values({"disaster_mode": True})
    night = datetime(2026, 11, 25, 23, 0, tzinfo=TOKYO)
    assert disaster.next_check("staff", night) == night + timedelta(seconds=60)
    assert disaster.decide("staff", night).allowed
    assert not policy.decide("staff", night).allowed
    roles = AccessPolicy.from_values({"off_hours_roles": ["operator"]})
    assert roles.decide("operator", night).allowed
    assert not roles.decide("manager", night).allowed


def test_secrets_from_an_older_release_gain_the_new_keys(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"session_key": "c2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbi0="}, fh)
    secrets = InstanceSecrets.load_or_create(tmp_path)
    assert secrets.session_key == b"session-key-session-key-session-"
    assert len(secrets.dpop_nonce_key) == len(secrets.challenge_key) == 32
    assert set(json.loads(path.read_text())) == set(KEY_NAMES)
    assert path.stat().st_mode & 0o777 == 0o600
    assert InstanceSecrets.load_or_create(tmp_path) == secrets


def test_the_public_url_gives_the_rp_id_origin_and_cookie_security() -> None:
    local = Settings(database_url="sqlite+aiosqlite:///x.db", port=8123)
    assert (local.rp_id, local.public_origin) == ("localhost", "http://localhost:8123")
    assert not local.secure_cookies
    public = Settings.from_env({"CHAT_PUBLIC_URL": "https://chat.city.example.jp/"})
    assert public.rp_id == "chat.city.example.jp"
    assert public.public_origin == "https://chat.city.example.jp"
    assert public.secure_cookies
    # A production node accepts its own origin only, not the loopback defaults.
    assert public.origins == frozenset({"https://chat.city.example.jp"})


@pytest.mark.parametrize("url", ["http://chat.city.example.jp", "https://192.0.2.1",
                                 "ftp://chat.example", "chat.example"])
def test_a_public_url_webauthn_cannot_use_is_refused(url: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"CHAT_PUBLIC_URL": url})


def test_session_lifetimes_come_from_the_environment() -> None:
    settings = Settings.from_env({"CHAT_SESSION_IDLE_MINUTES": "30",
                                  "CHAT_SESSION_HOURS": "10"})
    assert (settings.session_idle_seconds, settings.session_ttl_seconds) == (1800, 36000)
    with pytest.raises(SettingsError):
        Settings.from_env({"CHAT_SESSION_IDLE_MINUTES": "900", "CHAT_SESSION_HOURS": "10"})
    assert not Settings.from_env({"CHAT_OFF_HOURS_POLICY": "off"}).off_hours_policy
    assert Settings.from_env({}).off_hours_policy
