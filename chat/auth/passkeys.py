"""Passkeys (WebAuthn) for enrollment and sign-in, verified with the ``webauthn`` package.

Why stateless challenges: the options and the response may reach different nodes, and a
challenge must be used once. A challenge here is ``version | expiry | 16 random bytes |
MAC``, keyed by an instance secret and bound to its purpose (enroll or sign in) and, for
enrollment, to the code's digest; redeeming it records it in the DPoP replay store, which
every node shares. User verification is required (W3C WebAuthn
``#enum-userVerificationRequirement``): the passkey is the person, the device key the phone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import webauthn
from webauthn.helpers import exceptions as webauthn_errors
from webauthn.helpers import structs
from webauthn.helpers.cose import COSEAlgorithmIdentifier

from chat.auth.replay import ReplayCache
from chat.errors import PasskeyInvalid, RegistrationInvalid

ENROLL = b"E"
SIGN_IN = b"S"
_VERSION = b"\x01"
_RANDOM_BYTES = 16
_TAG_BYTES = 16
_LENGTH = len(_VERSION) + 8 + _RANDOM_BYTES + _TAG_BYTES
_LABEL = b"tsunagu/webauthn-challenge/v1\x00"
CEREMONY_TIMEOUT_MS = 120_000
# ES256 and EdDSA are what phones' platform authenticators make; RS256 is what some
# Windows Hello / TPM authenticators on office PCs make (they fail the ceremony when it is
# not offered). Most preferred first (WebAuthn §5.4 pubKeyCredParams).
ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class ChallengeIssuer:
    def __init__(self, key: bytes, replay: ReplayCache, *,
                 lifetime_seconds: float = CEREMONY_TIMEOUT_MS / 1000 + 60) -> None:
        self._key = key
        self._replay = replay
        self._lifetime_ms = int(lifetime_seconds * 1000)

    def _tag(self, purpose: bytes, binding: bytes, body: bytes) -> bytes:
        message = _LABEL + purpose + hashlib.sha256(binding).digest() + body
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self, purpose: bytes, now: datetime, *, binding: bytes = b"") -> bytes:
        expiry = _millis(now) + self._lifetime_ms
        body = _VERSION + expiry.to_bytes(8, "big") + secrets.token_bytes(_RANDOM_BYTES)
        return body + self._tag(purpose, binding, body)

    def check(self, challenge: bytes, purpose: bytes, now: datetime, *,
              binding: bytes = b"") -> bool:
        """True if this server issued ``challenge`` for ``purpose`` and it is unexpired."""
        if len(challenge) != _LENGTH or challenge[:1] != _VERSION:
            return False
        body, tag = challenge[:-_TAG_BYTES], challenge[-_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(purpose, binding, body)):
            return False
        return _millis(now) <= int.from_bytes(body[1:9], "big")

    async def redeem(self, challenge: bytes, now: datetime) -> bool:
        """Record a checked challenge as used; False if it was used before."""
        key = "webauthn:" + hashlib.sha256(challenge).hexdigest()
        return await self._replay.first_use(key, ttl_seconds=self._lifetime_ms / 1000,
                                            now=now)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def client_challenge(credential: dict[str, Any]) -> bytes:
    """The challenge the browser signed, read from ``clientDataJSON`` (then verified)."""
    try:
        response = credential["response"]
        raw = webauthn.base64url_to_bytes(response["clientDataJSON"])
        challenge = json.loads(raw)["challenge"]
        return webauthn.base64url_to_bytes(challenge)
    except (KeyError, TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        raise PasskeyInvalid("The credential has no readable client data") from None


def credential_id_of(credential: dict[str, Any]) -> str:
    raw_id = credential.get("rawId", credential.get("id"))
    if not isinstance(raw_id, str) or not raw_id or len(raw_id) > 1400:
        raise PasskeyInvalid("The credential has no id")
    try:
        return _b64url(webauthn.base64url_to_bytes(raw_id))
    except (ValueError, binascii.Error):
        raise PasskeyInvalid("The credential id is not base64url") from None


def user_handle(secret: bytes, user_id: int) -> bytes:
    """An opaque, stable WebAuthn user handle: no staff number or name (WebAuthn §14.6.1)."""
    return hmac.new(secret, b"tsunagu/user-handle\x00" + str(user_id).encode(),
                    hashlib.sha256).digest()[:16]


def registration_options(*, rp_id: str, rp_name: str, challenge: bytes, handle: bytes,
                         user_name: str, display_name: str,
                         existing: list[str]) -> dict[str, Any]:
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=handle, user_name=user_name,
        user_display_name=display_name, challenge=challenge, timeout=CEREMONY_TIMEOUT_MS,
        attestation=structs.AttestationConveyancePreference.NONE,
        authenticator_selection=structs.AuthenticatorSelectionCriteria(
            resident_key=structs.ResidentKeyRequirement.PREFERRED,
            user_verification=structs.UserVerificationRequirement.REQUIRED),
        exclude_credentials=[
            structs.PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(c))
            for c in existing],
        supported_pub_key_algs=ALGORITHMS,
    )
    parsed: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return parsed


def authentication_options(*, rp_id: str, challenge: bytes,
                           credential_ids: list[str]) -> dict[str, Any]:
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, challenge=challenge, timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[
            structs.PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(c))
            for c in credential_ids],
        user_verification=structs.UserVerificationRequirement.REQUIRED,
    )
    parsed: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return parsed


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    public_key: bytes
    sign_count: int
    aaguid: str
    backed_up: bool


def verify_registration(credential: dict[str, Any], *, challenge: bytes, rp_id: str,
                        origins: list[str]) -> NewPasskey:
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origins, require_user_presence=True,
            require_user_verification=True, supported_pub_key_algs=ALGORITHMS)
    except (webauthn_errors.WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise RegistrationInvalid(f"The passkey could not be verified: {error}") from None
    return NewPasskey(
        credential_id=_b64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        backed_up=bool(verified.credential_backed_up),
    )


def verify_assertion(credential: dict[str, Any], *, challenge: bytes, rp_id: str,
                     origins: list[str], public_key: bytes, sign_count: int) -> int:
    """Verify a sign-in assertion; returns the new signature counter.

    The library refuses a counter that did not rise (when either is non-zero): a signal
    of a cloned authenticator (W3C WebAuthn ``#sctn-sign-counter``), refused here.
    """
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origins, credential_public_key=public_key,
            credential_current_sign_count=sign_count, require_user_verification=True)
    except (webauthn_errors.WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyInvalid(f"The passkey could not be verified: {error}") from None
    return int(verified.new_sign_count)

