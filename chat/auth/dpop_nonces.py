"""Server-issued DPoP nonces (RFC 9449 §8, §9, §11.1): stateless, MAC'd under an instance
secret, so any node of a deployment checks any other's without storage."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from chat.auth.dpop_base import (
    DpopNonceRequired,
    b64url,
    b64url_decode_strict,
    require_aware,
)

# --- nonces (RFC 9449 §8, §9, §11.1) ---------------------------------------------------

_NONCE_VERSION = b"\x01"
_NONCE_RANDOM_BYTES = 16
_NONCE_TAG_BYTES = 32
_NONCE_BYTES = len(_NONCE_VERSION) + 8 + _NONCE_RANDOM_BYTES + _NONCE_TAG_BYTES
# Domain separation: the key may also key other MACs; a nonce tag is never one of theirs.
_NONCE_LABEL = b"tsunagu/dpop-nonce/v1\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_millis(now: datetime) -> int:
    require_aware(now)
    return (now - _EPOCH) // timedelta(milliseconds=1)


class NonceIssuer:
    """Stateless server nonces: ``version | issued-at (ms) | 16 random bytes | HMAC-SHA256``,
    base64url-encoded (so ``1*NQCHAR``, §8.1).

    The random bytes and the MAC make nonces unpredictable (§8); the issue time is the
    server's own, so the window no longer rests on the client's clock (§11.1). Any node
    holding the same ``key`` can check a nonce without storage. A nonce may be used for
    several proofs during its lifetime; the ``jti`` replay store stops proof replays.

    ``key`` must be at least 16 bytes (32 random bytes recommended; rotating it invalidates
    outstanding nonces, which clients recover from through ``use_dpop_nonce``).
    ``node_skew_seconds`` tolerates a nonce "from the future" issued by a node whose clock
    runs slightly ahead. ``token_bytes`` is the randomness source (injectable for tests).
    """

    def __init__(
        self,
        key: bytes,
        *,
        lifetime_seconds: float = 300,
        node_skew_seconds: float = 5,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the nonce key must be at least 16 bytes")
        if lifetime_seconds <= 0 or node_skew_seconds < 0:
            raise ValueError("lifetime must be positive and node skew non-negative")
        self._key = key
        self._lifetime_ms = lifetime_seconds * 1000
        self._node_skew_ms = node_skew_seconds * 1000
        self._token_bytes = token_bytes

    @property
    def lifetime_seconds(self) -> float:
        return self._lifetime_ms / 1000

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, _NONCE_LABEL + body, hashlib.sha256).digest()

    def issue(self, now: datetime) -> str:
        """A fresh nonce, valid from ``now`` for ``lifetime_seconds``."""
        random_part = self._token_bytes(_NONCE_RANDOM_BYTES)
        if len(random_part) != _NONCE_RANDOM_BYTES:
            raise ValueError("token_bytes returned the wrong number of bytes")
        body = _NONCE_VERSION + _epoch_millis(now).to_bytes(8, "big") + random_part
        return b64url(body + self._tag(body))

    def check(self, nonce: str, now: datetime) -> None:
        """Return if ``nonce`` was issued with this key and ``issued <= now <= issued +
        lifetime`` (both bounds inclusive, up to ``node_skew_seconds`` before issue);
        otherwise raise DpopNonceRequired."""
        now_ms = _epoch_millis(now)
        try:
            raw = b64url_decode_strict(nonce)
        except ValueError:
            raw = b""
        if len(raw) != _NONCE_BYTES or raw[:1] != _NONCE_VERSION:
            raise DpopNonceRequired("nonce was not issued by this server")
        body, tag = raw[:-_NONCE_TAG_BYTES], raw[-_NONCE_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(body)):
            raise DpopNonceRequired("nonce was not issued by this server")
        age_ms = now_ms - int.from_bytes(body[1:9], "big")
        if age_ms > self._lifetime_ms:
            raise DpopNonceRequired("nonce expired")
        if age_ms < -self._node_skew_ms:
            raise DpopNonceRequired("nonce issued in the future")
