"""Webhook signatures, pure: Standard Webhooks (our native PBX format) and Twilio.

Both take the secrets as arguments and the time as ``now``; nothing here reads a clock,
the network or the database. Tests check them against the ``standardwebhooks`` package
(and its published test vectors) and against ``twilio``'s ``RequestValidator``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

SECRET_PREFIX = "whsec_"
# Standard Webhooks, "Signature scheme": secrets of 24 to 64 random bytes.
SECRET_BYTES = 32
MAX_WEBHOOK_ID_CHARS = 200


class SignatureRejected(ValueError):
    """The request is not from a PBX holding an active secret (or is too old)."""


@dataclass(frozen=True)
class SigningKey:
    name: str
    key: bytes


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64 (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the prefix is optional), as the reference
    library reads it."""
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(body + "==", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret is not base64") from exc
    if not key:
        raise ValueError("the secret is empty")
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``msg_id.timestamp.body`` (the exact raw bytes:
    Standard Webhooks, "Signature scheme")."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_standard(keys: Sequence[SigningKey], *, msg_id: str | None,
                    timestamp: str | None, signature: str | None, body: bytes, now: float,
                    tolerance: float) -> str:
    """Check a Standard Webhooks request; return the name of the key that signed it.

    Raises :class:`SignatureRejected` when a header is missing or malformed, when the
    timestamp is more than ``tolerance`` seconds from ``now`` either way (replay
    protection, "Verifying signatures"), or when no ``v1`` entry of the space-separated
    signature list matches any key (rotation: each key is tried; constant-time compare).
    """
    if not msg_id or not timestamp or not signature:
        raise SignatureRejected("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(msg_id) > MAX_WEBHOOK_ID_CHARS:
        raise SignatureRejected("webhook-id is too long")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureRejected("webhook-timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance:
        raise SignatureRejected("webhook-timestamp is outside the accepted window")
    offered: list[bytes] = []
    for entry in signature.split(" "):
        version, sep, value = entry.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    for key in keys:
        expected = base64.b64decode(standard_signature(key.key, msg_id, sent_at, body)[3:])
        # Compare against every candidate so timing does not reveal which one matched.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return key.name
    raise SignatureRejected("no valid signature")


# --- Twilio ------------------------------------------------------------------------------

def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the Auth Token, over
    the full URL Twilio requested followed by each POST parameter as ``name + value``,
    names sorted, several values of one name sorted too (Twilio, "Validating Signatures
    from Twilio"; ``RequestValidator.compute_signature``)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    data = url + "".join(name + value for name in sorted(grouped)
                         for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as given, without its default port, and with it: Twilio's validator
    accepts a signature over either form."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    if parts.port is not None and parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    elif parts.port is None and default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return variants


def verify_twilio(tokens: Sequence[SigningKey], *, url: str,
                  params: Sequence[tuple[str, str]], signature: str | None) -> str:
    """Check ``X-Twilio-Signature``; return the name of the Auth Token that signed it.
    ``tokens`` hold the token's UTF-8 bytes as ``key`` (primary and secondary token may
    both be active). Raises :class:`SignatureRejected`."""
    if not signature:
        raise SignatureRejected("missing X-Twilio-Signature")
    for token in tokens:
        for candidate in _port_variants(url):
            expected = twilio_signature(token.key.decode(), candidate, params)
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return token.name
    raise SignatureRejected("no valid signature")
