"""A software device key: the client side of DPoP (RFC 9449), ES256 only.

Why: a session is bound to the device that signed in, and every request must carry a
fresh proof signed by that device's key (docs/security.md). Browsers keep the key in
WebCrypto, non-extractable; scripts, tests and the benchmark keep it here, in memory or as
a PKCS#8 PEM file. Whoever holds the PEM *is* the device: store it like a password.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chat.auth.dpop import access_token_hash, jwk_thumbprint

_COORDINATE_BYTES = 32  # P-256 (RFC 7518 §6.2.1.2: the full, zero-padded coordinate)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def htu_of(url: str) -> str:
    """``url`` without query and fragment: the ``htu`` claim (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class DeviceKey:
    """An ECDSA P-256 key pair that signs DPoP proofs.

    Raises ValueError when given a key on another curve.
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("a device key must be ECDSA P-256")
        self.private_key = private_key
        numbers = private_key.public_key().public_numbers()
        self._public_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
            "y": _b64url(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
        }
        self._jkt = jwk_thumbprint(self._public_jwk)

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: bytes, *, password: bytes | None = None) -> DeviceKey:
        """Load a key written by :meth:`to_pem` (any PEM private key on P-256 will do).

        Raises ValueError for a malformed PEM or a key that is not ECDSA P-256.
        """
        key = serialization.load_pem_private_key(data, password=password)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("a device key must be ECDSA P-256")
        return cls(key)

    def to_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM: the device itself, keep it secret."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (``kty``, ``crv``, ``x``, ``y``); a fresh copy."""
        return dict(self._public_jwk)

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint the server records at enrolment and binds sessions to."""
        return self._jkt

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        omit_claims: Collection[str] = (),
        extra_headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A DPoP proof JWT for ``method url`` (RFC 9449 §4.2), signed ES256.

        ``htu`` is ``url`` without query and fragment; ``jti`` defaults to a random UUID,
        ``iat`` to now (whole seconds). ``nonce`` is the server's latest ``DPoP-Nonce``;
        ``ath`` is added when ``access_token`` is given. Tests forge bad proofs with
        ``extra_claims`` (added or replacing, applied last), ``omit_claims`` (dropped) and
        ``extra_headers`` (merged over ``typ`` and ``jwk``; ``alg`` stays ES256).
        """
        claims: dict[str, Any] = {
            "jti": jti if jti is not None else str(uuid.uuid4()),
            "htm": method,
            "htu": htu_of(url),
            "iat": iat if iat is not None else int(time.time()),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        claims.update(extra_claims or {})
        for name in omit_claims:
            claims.pop(name, None)
        headers: dict[str, Any] = {"typ": "dpop+jwt", "jwk": self.public_jwk}
        headers.update(extra_headers or {})
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers=headers)

    def __repr__(self) -> str:
        return f"DeviceKey(jkt={self._jkt!r})"
