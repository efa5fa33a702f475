"""What every step of the DPoP check (RFC 9449) shares: its two errors, canonical
base64url, and the rule that every time passed in is aware."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

from chat.errors import Unauthenticated


class DpopError(Unauthenticated):
    """A DPoP proof was missing or invalid (RFC 9449 §7.1 ``invalid_dpop_proof``)."""

    code = "invalid_dpop_proof"
    http_status = 401
    default_message = "The DPoP proof is invalid"


class DpopNonceRequired(DpopError):
    """The proof lacks a valid server nonce; answer with a fresh ``DPoP-Nonce`` (§8, §9)."""

    code = "use_dpop_nonce"
    default_message = "A fresh DPoP nonce is required"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode_strict(text: str) -> bytes:
    """Decode unpadded base64url, refusing anything that would not re-encode identically,
    so one value has one spelling (a key cannot take two thumbprints)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError("not unpadded base64url") from error
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
