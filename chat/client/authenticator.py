"""A software WebAuthn authenticator (and the browser's part of the ceremony) for tests,
the benchmark and operators' scripts.

It is NOT a security boundary: its credential keys live in process memory, it asks no one
for presence or verification and simply *claims* both (UP and UV flags), and it signs
whatever options it is handed. A server must never trust it more than a real passkey; it
exists so that the real verification code (``webauthn``) runs in tests exactly as it does
for browsers.

What it produces follows WebAuthn Level 3: ``PublicKeyCredential.toJSON()`` output
(RegistrationResponseJSON, AuthenticationResponseJSON), attestation format ``none``
(§8.7), ES256 credential keys (COSE alg -7) or, when asked, RS256 ones (COSE alg -257, the
kind some Windows Hello / TPM authenticators make), the authenticator data layout of §6.1 and the
client data of §5.8.1. Failures a test may need are one argument away: a wrong ``origin``
and ``user_verified=False``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

COSE_ALG_ES256 = -7
COSE_ALG_RS256 = -257
_ALG_NAMES = {COSE_ALG_ES256: "ES256", COSE_ALG_RS256: "RS256"}
# Authenticator data flags (WebAuthn §6.1).
FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_AT = 0x40  # attested credential data included
# This authenticator's AAGUID: all zeros, as "none" attestation reports it (§8.7).
AAGUID = bytes(16)
CREDENTIAL_ID_BYTES = 32


class AuthenticatorError(Exception):
    """The ceremony fails as ``navigator.credentials`` would fail: no usable credential, an
    excluded credential already present, or no supported algorithm offered."""


@dataclass
class StoredCredential:
    """A credential this authenticator holds (a discoverable, "resident" one)."""

    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cose_es256_key(key: ec.EllipticCurvePublicKey) -> bytes:
    # RFC 9053 §7.1.1 (EC2 key): kty 2, alg -7, crv 1 (P-256), x and y as 32-byte strings.
    numbers = key.public_numbers()
    return cbor2.dumps({
        1: 2,
        3: COSE_ALG_ES256,
        -1: 1,
        -2: numbers.x.to_bytes(32, "big"),
        -3: numbers.y.to_bytes(32, "big"),
    })


def _cose_rs256_key(key: rsa.RSAPublicKey) -> bytes:
    # RFC 8230 §4 (RSA key): kty 3, alg -257, n and e as unsigned big-endian byte strings.
    numbers = key.public_numbers()
    return cbor2.dumps({
        1: 3,
        3: COSE_ALG_RS256,
        -1: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
        -2: numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
    })


def _sign(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, data: bytes) -> bytes:
    # §6.5.5: ECDSA signatures are DER-encoded (unlike a JWS); RS256 is RSASSA-PKCS1-v1_5
    # with SHA-256 (RFC 8812 §2).
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


class SoftwareAuthenticator:
    """A platform authenticator for ``rp_id`` used from the page at ``origin``.

    ``credentials`` maps credential id to :class:`StoredCredential`; it is plain state that
    tests may inspect or edit (e.g. to roll a sign count back). ``user_verified`` is the
    default for the UV flag; each call may override it, and ``origin``, per ceremony.
    ``algorithm`` is the COSE algorithm of the keys it makes: ES256 (-7, what phones make)
    or RS256 (-257, what some Windows Hello / TPM authenticators make).
    """

    def __init__(self, rp_id: str, origin: str, *, user_verified: bool = True,
                 algorithm: int = COSE_ALG_ES256) -> None:
        if algorithm not in _ALG_NAMES:
            raise ValueError(f"unsupported COSE algorithm {algorithm}")
        self.rp_id = rp_id
        self.origin = origin
        self.user_verified = user_verified
        self.algorithm = algorithm
        self.credentials: dict[bytes, StoredCredential] = {}

    def make_credential(
        self,
        options: Mapping[str, Any],
        *,
        origin: str | None = None,
        user_verified: bool | None = None,
    ) -> dict[str, Any]:
        """Create a credential for PublicKeyCredentialCreationOptionsJSON ``options`` and
        return the RegistrationResponseJSON a browser would send.

        Raises AuthenticatorError if ``options`` name another RP ID, do not offer this
        authenticator's algorithm, or exclude a credential already held (WebAuthn §5.1.3,
        §6.3.2 steps 2-3).
        """
        self._check_rp_id(options.get("rp", {}).get("id"))
        algs = [param.get("alg") for param in options.get("pubKeyCredParams", [])]
        if self.algorithm not in algs:
            raise AuthenticatorError(f"the relying party offers no "
                                     f"{_ALG_NAMES[self.algorithm]} (COSE {self.algorithm})")
        excluded = {_b64url_decode(item["id"]) for item in options.get("excludeCredentials", [])}
        if excluded & self.credentials.keys():
            raise AuthenticatorError("a credential in excludeCredentials is already present")

        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if self.algorithm == COSE_ALG_RS256:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            cose_key = _cose_rs256_key(private_key.public_key())
        else:
            private_key = ec.generate_private_key(ec.SECP256R1())
            cose_key = _cose_es256_key(private_key.public_key())
        credential_id = secrets.token_bytes(CREDENTIAL_ID_BYTES)
        self.credentials[credential_id] = StoredCredential(
            private_key=private_key,
            user_handle=_b64url_decode(options["user"]["id"]),
            rp_id=self.rp_id,
        )
        # §6.5.1 attested credential data: aaguid | L (2 bytes) | credentialId | COSE key.
        attested = (AAGUID + len(credential_id).to_bytes(2, "big") + credential_id
                    + cose_key)
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if self._uv(user_verified) else 0)
        auth_data = self._auth_data(flags, sign_count=0) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        public_key_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {
            "id": _b64url(credential_id),
            "rawId": _b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": _b64url(client_data),
                "attestationObject": _b64url(attestation_object),
                "transports": ["internal"],
                # Conveniences of toJSON() (WebAuthn L3 §5.2.1.1), as browsers send them.
                "authenticatorData": _b64url(auth_data),
                "publicKey": _b64url(public_key_der),
                "publicKeyAlgorithm": self.algorithm,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get_assertion(
        self,
        options: Mapping[str, Any],
        *,
        origin: str | None = None,
        user_verified: bool | None = None,
    ) -> dict[str, Any]:
        """Sign PublicKeyCredentialRequestOptionsJSON ``options`` and return the
        AuthenticationResponseJSON a browser would send.

        Uses the first held credential for this RP listed in ``allowCredentials``, or,
        when the list is absent or empty, the first one held (a discoverable credential).
        The credential's sign count goes up by one before signing. Raises
        AuthenticatorError when ``options`` name another RP ID or no held credential fits.
        """
        self._check_rp_id(options.get("rpId"))
        allowed = [_b64url_decode(item["id"]) for item in options.get("allowCredentials", [])]
        candidates = allowed or list(self.credentials)
        credential_id = next(
            (cid for cid in candidates
             if cid in self.credentials and self.credentials[cid].rp_id == self.rp_id),
            None,
        )
        if credential_id is None:
            raise AuthenticatorError(f"no credential for {self.rp_id} fits these options")
        credential = self.credentials[credential_id]
        credential.sign_count += 1

        flags = FLAG_UP | (FLAG_UV if self._uv(user_verified) else 0)
        auth_data = self._auth_data(flags, sign_count=credential.sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        # §6.3.3 step 11: the signature covers authenticatorData || SHA-256(clientDataJSON).
        signature = _sign(credential.private_key,
                          auth_data + hashlib.sha256(client_data).digest())
        return {
            "id": _b64url(credential_id),
            "rawId": _b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": _b64url(client_data),
                "authenticatorData": _b64url(auth_data),
                "signature": _b64url(signature),
                "userHandle": _b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _check_rp_id(self, requested: str | None) -> None:
        # A browser refuses options for an RP ID the page may not use (§5.1.3 step 8);
        # here a mismatch is a misconfigured test or script, so say so plainly.
        if requested is not None and requested != self.rp_id:
            raise AuthenticatorError(
                f"the options are for RP ID {requested!r}, this authenticator is for "
                f"{self.rp_id!r}")

    def _uv(self, user_verified: bool | None) -> bool:
        return self.user_verified if user_verified is None else user_verified

    def _auth_data(self, flags: int, *, sign_count: int) -> bytes:
        # §6.1: rpIdHash (32) | flags (1) | signCount (4, big-endian) [| attested data].
        rp_id_hash = hashlib.sha256(self.rp_id.encode("utf-8")).digest()
        return rp_id_hash + bytes([flags]) + sign_count.to_bytes(4, "big")

    def _client_data(self, type_: str, challenge: str, origin: str | None) -> bytes:
        # §5.8.1: the browser re-encodes the challenge bytes as unpadded base64url.
        return json.dumps({
            "type": type_,
            "challenge": _b64url(_b64url_decode(challenge)),
            "origin": origin if origin is not None else self.origin,
            "crossOrigin": False,
        }, separators=(",", ":")).encode("utf-8")
