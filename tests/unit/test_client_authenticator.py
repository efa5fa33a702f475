"""The software authenticator and device key (chat/client) against the real verifiers.

Every response is checked by the ``webauthn`` library and every proof by
``chat.auth.dpop.verify_proof``, exactly as the server checks a browser's: if these pass,
tests and the benchmark exercise the real verification code, not a stand-in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import webauthn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import base64url_to_bytes, parse_attestation_object
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from chat.auth.dpop import VerifiedProof, access_token_hash, jwk_thumbprint, verify_proof
from chat.auth.dpop_base import DpopError, DpopNonceRequired
from chat.auth.dpop_nonces import NonceIssuer
from chat.auth.replay import MemoryReplayCache
from chat.client.authenticator import AuthenticatorError, SoftwareAuthenticator
from chat.client.device import DeviceKey

RP_ID = "chat.example.jp"
ORIGIN = "https://chat.example.jp"
USER_ID = b"user-1001"

NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
URL = "https://chat.example.jp/api/messages"
NONCES = NonceIssuer(b"n" * 32)
TOKEN = "session-token-of-the-device"


# --- WebAuthn ---------------------------------------------------------------------------


def registration_options(**overrides: Any) -> tuple[dict[str, Any], bytes]:
    """Creation options as the server sends them (JSON, parsed), and their challenge."""
    options = webauthn.generate_registration_options(
        rp_id=RP_ID, rp_name="Tsunagu", user_name="1001", user_id=USER_ID,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        **overrides)
    return json.loads(webauthn.options_to_json(options)), options.challenge


def authentication_options(*allowed: bytes) -> tuple[dict[str, Any], bytes]:
    options = webauthn.generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allowed],
        user_verification=UserVerificationRequirement.REQUIRED)
    return json.loads(webauthn.options_to_json(options)), options.challenge


def register(authenticator: SoftwareAuthenticator) -> VerifiedRegistration:
    options, challenge = registration_options()
    credential = authenticator.make_credential(options)
    return webauthn.verify_registration_response(
        credential=credential, expected_challenge=challenge, expected_rp_id=RP_ID,
        expected_origin=ORIGIN, require_user_verification=True)


def authenticate(authenticator: SoftwareAuthenticator, public_key: bytes, sign_count: int,
                 *allowed: bytes, **call: Any) -> VerifiedAuthentication:
    options, challenge = authentication_options(*allowed)
    assertion = authenticator.get_assertion(options, **call)
    return webauthn.verify_authentication_response(
        credential=assertion, expected_challenge=challenge, expected_rp_id=RP_ID,
        expected_origin=ORIGIN, credential_public_key=public_key,
        credential_current_sign_count=sign_count, require_user_verification=True)


@pytest.fixture
def authenticator() -> SoftwareAuthenticator:
    return SoftwareAuthenticator(RP_ID, ORIGIN)


def test_a_registration_verifies_with_user_verification_required(
        authenticator: SoftwareAuthenticator) -> None:
    verified = register(authenticator)
    assert verified.fmt == "none"
    assert verified.user_verified is True
    assert verified.sign_count == 0
    assert list(authenticator.credentials) == [verified.credential_id]
    stored = authenticator.credentials[verified.credential_id]
    assert stored.user_handle == USER_ID
    assert stored.rp_id == RP_ID


def test_a_registration_response_has_the_browser_json_shape(
        authenticator: SoftwareAuthenticator) -> None:
    options, challenge = registration_options()
    credential = authenticator.make_credential(options)
    assert credential["id"] == credential["rawId"]
    assert credential["type"] == "public-key"
    assert credential["authenticatorAttachment"] == "platform"
    assert credential["clientExtensionResults"] == {}
    client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    assert client_data == {"type": "webauthn.create", "challenge": options["challenge"],
                           "origin": ORIGIN, "crossOrigin": False}
    assert base64url_to_bytes(client_data["challenge"]) == challenge
    attestation = parse_attestation_object(
        base64url_to_bytes(credential["response"]["attestationObject"]))
    flags = attestation.auth_data.flags
    assert (flags.up, flags.uv, flags.at) == (True, True, True)
    assert attestation.auth_data.sign_count == 0


def test_a_registration_from_another_origin_is_refused(
        authenticator: SoftwareAuthenticator) -> None:
    options, challenge = registration_options()
    credential = authenticator.make_credential(options, origin="https://evil.example")
    with pytest.raises(InvalidRegistrationResponse, match="origin"):
        webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=RP_ID,
            expected_origin=ORIGIN, require_user_verification=True)


def test_a_registration_without_user_verification_is_refused(
        authenticator: SoftwareAuthenticator) -> None:
    options, challenge = registration_options()
    credential = authenticator.make_credential(options, user_verified=False)
    with pytest.raises(InvalidRegistrationResponse, match="User verification is required"):
        webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=RP_ID,
            expected_origin=ORIGIN, require_user_verification=True)


def test_options_for_another_rp_id_are_refused_like_the_browser() -> None:
    other = SoftwareAuthenticator("evil.example", "https://evil.example")
    with pytest.raises(AuthenticatorError, match=r"for RP ID 'chat\.example\.jp'"):
        other.make_credential(registration_options()[0])
    with pytest.raises(AuthenticatorError, match=r"for RP ID 'chat\.example\.jp'"):
        other.get_assertion(authentication_options()[0])


def test_the_rp_id_hash_is_checked_by_the_library(
        authenticator: SoftwareAuthenticator) -> None:
    options, challenge = registration_options()
    authenticator.rp_id = "evil.example"  # signs for one RP after taking options of another
    options["rp"].pop("id")
    credential = authenticator.make_credential(options)
    with pytest.raises(InvalidRegistrationResponse, match="RP ID"):
        webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=RP_ID,
            expected_origin=ORIGIN, require_user_verification=True)


def test_an_excluded_credential_is_not_registered_twice(
        authenticator: SoftwareAuthenticator) -> None:
    first = register(authenticator)
    options, _ = registration_options(
        exclude_credentials=[PublicKeyCredentialDescriptor(id=first.credential_id)])
    with pytest.raises(AuthenticatorError, match="excludeCredentials"):
        authenticator.make_credential(options)
    assert len(authenticator.credentials) == 1


def test_options_without_es256_are_refused(authenticator: SoftwareAuthenticator) -> None:
    options, _ = registration_options(
        supported_pub_key_algs=[COSEAlgorithmIdentifier.EDDSA])
    with pytest.raises(AuthenticatorError, match="ES256"):
        authenticator.make_credential(options)


def test_assertions_verify_and_the_sign_count_rises(
        authenticator: SoftwareAuthenticator) -> None:
    registered = register(authenticator)
    key, count = registered.credential_public_key, registered.sign_count
    first = authenticate(authenticator, key, count)  # discoverable: no allowCredentials
    second = authenticate(authenticator, key, first.new_sign_count, registered.credential_id)
    assert first.credential_id == second.credential_id == registered.credential_id
    assert (first.new_sign_count, second.new_sign_count) == (1, 2)
    assert first.user_verified and second.user_verified


def test_an_assertion_carries_the_user_handle_and_a_get_client_data(
        authenticator: SoftwareAuthenticator) -> None:
    register(authenticator)
    options, _ = authentication_options()
    assertion = authenticator.get_assertion(options)
    assert base64url_to_bytes(assertion["response"]["userHandle"]) == USER_ID
    client_data = json.loads(base64url_to_bytes(assertion["response"]["clientDataJSON"]))
    assert client_data == {"type": "webauthn.get", "challenge": options["challenge"],
                           "origin": ORIGIN, "crossOrigin": False}


def test_allow_credentials_picks_the_listed_credential(
        authenticator: SoftwareAuthenticator) -> None:
    register(authenticator)
    second = register(authenticator)
    verified = authenticate(authenticator, second.credential_public_key, 0,
                            second.credential_id)
    assert verified.credential_id == second.credential_id


def test_no_matching_credential_fails_like_the_browser(
        authenticator: SoftwareAuthenticator) -> None:
    options, _ = authentication_options()
    with pytest.raises(AuthenticatorError):
        authenticator.get_assertion(options)
    register(authenticator)
    options, _ = authentication_options(b"a credential held elsewhere")
    with pytest.raises(AuthenticatorError):
        authenticator.get_assertion(options)


def test_an_assertion_from_another_origin_is_refused(
        authenticator: SoftwareAuthenticator) -> None:
    registered = register(authenticator)
    with pytest.raises(InvalidAuthenticationResponse, match="origin"):
        authenticate(authenticator, registered.credential_public_key, 0,
                     origin="https://evil.example")


def test_an_assertion_without_user_verification_is_refused(
        authenticator: SoftwareAuthenticator) -> None:
    registered = register(authenticator)
    with pytest.raises(InvalidAuthenticationResponse, match="User verification is required"):
        authenticate(authenticator, registered.credential_public_key, 0, user_verified=False)


def test_a_sign_count_rolled_back_is_refused_as_a_possible_clone(
        authenticator: SoftwareAuthenticator) -> None:
    registered = register(authenticator)
    key = registered.credential_public_key
    after_first = authenticate(authenticator, key, 0).new_sign_count
    authenticator.credentials[registered.credential_id].sign_count = 0  # a cloned copy
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        authenticate(authenticator, key, after_first)


def test_an_assertion_signed_by_another_credential_key_is_refused(
        authenticator: SoftwareAuthenticator) -> None:
    registered = register(authenticator)
    impostor = register(SoftwareAuthenticator(RP_ID, ORIGIN))
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        authenticate(authenticator, impostor.credential_public_key, 0,
                     registered.credential_id)


# --- DeviceKey and DPoP -----------------------------------------------------------------


async def verify(proof: str, **options: Any) -> VerifiedProof:
    arguments: dict[str, Any] = {"method": "POST", "url": URL, "nonces": NONCES,
                                 "replay": MemoryReplayCache(), "now": NOW}
    arguments.update(options)
    return await verify_proof(proof, **arguments)


@pytest.fixture
def device() -> DeviceKey:
    return DeviceKey.generate()


def iat_now() -> int:
    return int(NOW.timestamp())


async def test_a_device_proof_verifies_and_names_the_device(device: DeviceKey) -> None:
    proof = device.proof("POST", URL, nonce=NONCES.issue(NOW), iat=iat_now())
    verified = await verify(proof)
    assert verified.jkt == device.jkt
    assert verified.public_jwk == device.public_jwk


async def test_a_proof_with_ath_verifies_for_its_token_only(device: DeviceKey) -> None:
    proof = device.proof("POST", URL, nonce=NONCES.issue(NOW), iat=iat_now(),
                         access_token=TOKEN)
    await verify(proof, access_token=TOKEN, expected_jkt=device.jkt)
    with pytest.raises(DpopError, match="ath does not match"):
        await verify(proof, access_token="another-session-token")
    with pytest.raises(DpopError, match="another key"):
        await verify(proof, access_token=TOKEN, expected_jkt=DeviceKey.generate().jkt)


async def test_a_proof_without_ath_is_refused_with_a_token(device: DeviceKey) -> None:
    proof = device.proof("POST", URL, nonce=NONCES.issue(NOW), iat=iat_now())
    with pytest.raises(DpopError, match="ath missing"):
        await verify(proof, access_token=TOKEN)


async def test_a_proof_without_a_nonce_asks_for_one(device: DeviceKey) -> None:
    with pytest.raises(DpopNonceRequired):
        await verify(device.proof("POST", URL, iat=iat_now()))


async def test_htu_drops_query_and_fragment(device: DeviceKey) -> None:
    proof = device.proof("GET", URL + "?after=5#top", nonce=NONCES.issue(NOW), iat=iat_now())
    await verify(proof, method="GET", url=URL + "?after=9")


async def test_a_websocket_proof_verifies_for_the_ws_url(device: DeviceKey) -> None:
    ws_url = "wss://chat.example.jp/ws"
    proof = device.proof("GET", ws_url, nonce=NONCES.issue(NOW), iat=iat_now(),
                         access_token=TOKEN)
    await verify(proof, method="GET", url=ws_url, access_token=TOKEN,
                 expected_jkt=device.jkt)


async def test_default_iat_and_jti_are_now_and_unique(device: DeviceKey) -> None:
    replay = MemoryReplayCache()
    now = datetime.now(UTC)
    for _ in range(2):  # two default proofs: two jtis, neither a replay
        await verify(device.proof("POST", URL, nonce=NONCES.issue(now)), now=now,
                     replay=replay)
    assert len(replay) == 2


@pytest.mark.parametrize(("forge", "match"), [
    ({"extra_claims": {"htm": "GET"}}, "htm"),
    ({"extra_claims": {"htu": "https://chat.example.jp/api/other"}}, "htu"),
    ({"omit_claims": ["jti"]}, "missing claims: jti"),
    ({"iat": int(NOW.timestamp()) - 3600}, "too old"),
    ({"extra_headers": {"typ": "JWT"}}, "typ"),
])
async def test_forged_proofs_are_refused(device: DeviceKey, forge: dict[str, Any],
                                         match: str) -> None:
    arguments: dict[str, Any] = {"nonce": NONCES.issue(NOW), "iat": iat_now(), **forge}
    with pytest.raises(DpopError, match=match):
        await verify(device.proof("POST", URL, **arguments))


def test_the_public_jwk_is_p256_with_32_byte_coordinates(device: DeviceKey) -> None:
    jwk = device.public_jwk
    assert set(jwk) == {"kty", "crv", "x", "y"}
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    for coordinate in (jwk["x"], jwk["y"]):
        assert "=" not in coordinate
        assert len(base64url_to_bytes(coordinate)) == 32
    assert device.jkt == jwk_thumbprint(jwk)


def test_a_pem_round_trip_keeps_the_device(device: DeviceKey) -> None:
    pem = device.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    restored = DeviceKey.from_pem(pem)
    assert restored.jkt == device.jkt
    assert restored.public_jwk == device.public_jwk


async def test_a_restored_key_signs_for_the_bound_session(device: DeviceKey) -> None:
    restored = DeviceKey.from_pem(device.to_pem())
    proof = restored.proof("POST", URL, nonce=NONCES.issue(NOW), iat=iat_now(),
                           access_token=TOKEN)
    await verify(proof, access_token=TOKEN, expected_jkt=device.jkt)


def test_a_key_on_another_curve_is_not_a_device_key() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(ValueError, match="P-256"):
        DeviceKey.from_pem(p384)


def test_access_token_hash_is_the_ath_claim(device: DeviceKey) -> None:
    proof = device.proof("POST", URL, access_token=TOKEN)
    assert jwt.decode(proof, options={"verify_signature": False})["ath"] == \
        access_token_hash(TOKEN)


def test_an_rs256_authenticator_makes_credentials_the_library_verifies() -> None:
    """RS256 (COSE -257) is what some Windows Hello / TPM authenticators make."""
    from chat.client.authenticator import COSE_ALG_RS256

    rs256 = SoftwareAuthenticator(RP_ID, ORIGIN, algorithm=COSE_ALG_RS256)
    options, challenge = registration_options(
        supported_pub_key_algs=[COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256])
    credential = rs256.make_credential(options)
    assert credential["response"]["publicKeyAlgorithm"] == COSE_ALG_RS256
    verified = webauthn.verify_registration_response(
        credential=credential, expected_challenge=challenge, expected_rp_id=RP_ID,
        expected_origin=ORIGIN, require_user_verification=True,
        supported_pub_key_algs=[COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256])
    assertion_options = json.loads(webauthn.options_to_json(
        webauthn.generate_authentication_options(rp_id=RP_ID, challenge=b"c" * 32)))
    assertion = rs256.get_assertion(assertion_options)
    checked = webauthn.verify_authentication_response(
        credential=assertion, expected_challenge=b"c" * 32, expected_rp_id=RP_ID,
        expected_origin=ORIGIN, credential_public_key=verified.credential_public_key,
        credential_current_sign_count=0, require_user_verification=True)
    assert checked.new_sign_count == 1
