"""DPoP proofs (chat/auth/dpop.py): RFC 9449 §4.3, one test per rule, no clock, no sleep.

Keys come from ``cryptography``; proofs are built with PyJWT the way a client would, and
expected thumbprints are computed here independently (hashlib over the canonical JSON).
Redis tests run when CHAT_TEST_REDIS_URL is set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chat.auth.dpop import (
    VerifiedProof,
    access_token_hash,
    jwk_thumbprint,
    parse_dpop_header,
    verify_proof,
)
from chat.auth.dpop_base import DpopError, DpopNonceRequired
from chat.auth.dpop_htu import normalize_htu
from chat.auth.dpop_nonces import NonceIssuer
from chat.auth.replay import MemoryReplayCache, RedisReplayCache
from chat.errors import Unauthenticated

# Read here rather than from tests.support, which imports the whole application.
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL")

NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
URL = "https://chat.example.jp/api/messages"
NONCE_KEY = b"n" * 32
NONCES = NonceIssuer(NONCE_KEY)
ACCESS_TOKEN = "session-token-of-the-device"
DROP = object()  # a claim or header value meaning "leave it out"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value).encode())


def canonical_ec_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3, written out by hand so it does not share code with the module."""
    crv, x, y = jwk["crv"], jwk["x"], jwk["y"]
    text = f'{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}'
    return b64url(hashlib.sha256(text.encode()).digest())


@dataclass
class Device:
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        size = (self.private_key.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384"}[self.private_key.curve.key_size]
        return {"kty": "EC", "crv": crv, "x": b64url(numbers.x.to_bytes(size, "big")),
                "y": b64url(numbers.y.to_bytes(size, "big"))}

    @property
    def private_jwk(self) -> dict[str, Any]:
        size = (self.private_key.curve.key_size + 7) // 8
        d = self.private_key.private_numbers().private_value.to_bytes(size, "big")
        return {**self.public_jwk, "d": b64url(d)}

    @property
    def jkt(self) -> str:
        return canonical_ec_thumbprint(self.public_jwk)


def claims(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "htm": "POST",
        "htu": URL,
        "iat": int(NOW.timestamp()),
        "nonce": NONCES.issue(NOW),
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not DROP}


def make_proof(device: Device, payload: dict[str, Any] | None = None, *,
               headers: dict[str, Any] | None = None, key: Any = None,
               algorithm: str = "ES256") -> str:
    """A proof as a client builds it: header jwk = the device's public key."""
    header: dict[str, Any] = {"typ": "dpop+jwt", "jwk": device.public_jwk}
    header.update(headers or {})
    header = {name: value for name, value in header.items() if value is not DROP}
    if "typ" not in header:
        header["typ"] = None  # PyJWT omits typ when it is None
    return jwt.encode(payload if payload is not None else claims(),
                      key if key is not None else device.private_key,
                      algorithm=algorithm, headers=header)


async def verify(proof: str | None, **options: Any) -> VerifiedProof:
    arguments: dict[str, Any] = {
        "method": "POST", "url": URL, "nonces": NONCES, "replay": MemoryReplayCache(),
        "now": NOW,
    }
    arguments.update(options)
    return await verify_proof(proof, **arguments)


async def assert_refused(proof: str | None, match: str, **options: Any) -> DpopError:
    """Refused as an invalid proof (not as a nonce request) with a message matching."""
    with pytest.raises(DpopError, match=match) as info:
        await verify(proof, **options)
    assert type(info.value) is DpopError
    assert info.value.code == "invalid_dpop_proof"
    return info.value


@pytest.fixture
def device() -> Device:
    return Device()


# --- a valid proof ---------------------------------------------------------------------


async def test_a_valid_proof_is_accepted_and_returns_the_key_thumbprint(device: Device) -> None:
    payload = claims()
    result = await verify(make_proof(device, payload))
    assert result.jkt == device.jkt
    assert result.jti == payload["jti"]
    assert result.iat == NOW
    assert result.public_jwk == device.public_jwk


async def test_only_the_public_members_of_the_jwk_are_returned(device: Device) -> None:
    jwk = {**device.public_jwk, "kid": "laptop", "use": "sig", "alg": "ES256"}
    result = await verify(make_proof(device, headers={"jwk": jwk}))
    assert result.public_jwk == device.public_jwk
    assert result.jkt == device.jkt


async def test_a_proof_with_the_right_token_and_key_is_accepted(device: Device) -> None:
    proof = make_proof(device, claims(ath=access_token_hash(ACCESS_TOKEN)))
    result = await verify(proof, access_token=ACCESS_TOKEN, expected_jkt=device.jkt)
    assert result.jkt == device.jkt


async def test_a_websocket_handshake_proof_names_the_wss_url(device: Device) -> None:
    proof = make_proof(device, claims(htm="GET", htu="wss://Chat.Example.jp:443/ws"))
    await verify(proof, method="GET", url="wss://chat.example.jp/ws")


async def test_the_rfc_9449_example_proofs_verify_up_to_the_nonce() -> None:
    # RFC 9449 §4.2 (token request) and §7.1 (resource request): signed by another
    # implementation, without a nonce. Reaching DpopNonceRequired means typ, alg, jwk,
    # signature, claims, htm, htu, ath and the key binding all passed.
    header = ("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4"
              "dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09r"
              "X282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19")
    token_proof = (header + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6"
                   "Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ"
                   ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK7"
                   "0nfbV37xRZT3Lg")
    resource_proof = (header + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1Ij"
                      "oiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlh"
                      "dCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OU"
                      "lpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8"
                      "y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA")
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"  # RFC 9449 §6.1
    with pytest.raises(DpopNonceRequired, match="nonce missing"):
        await verify(token_proof, url="https://server.example.com/token",
                     now=datetime.fromtimestamp(1562262616, UTC), expected_jkt=jkt)
    with pytest.raises(DpopNonceRequired, match="nonce missing"):
        await verify(resource_proof, method="GET",
                     url="https://resource.example.org/protectedresource",
                     now=datetime.fromtimestamp(1562262618, UTC), expected_jkt=jkt,
                     access_token="Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
    tampered = token_proof[:-2] + ("AA" if not token_proof.endswith("AA") else "BA")
    await assert_refused(tampered, "signature does not verify",
                         url="https://server.example.com/token",
                         now=datetime.fromtimestamp(1562262616, UTC))


# --- step 1: one well-formed JWT ----------------------------------------------------------


def test_a_single_dpop_header_is_returned() -> None:
    assert parse_dpop_header([" a.b.c "]) == "a.b.c"


def test_two_dpop_headers_are_refused() -> None:
    with pytest.raises(DpopError, match="more than one DPoP header"):
        parse_dpop_header(["a.b.c", "d.e.f"])


def test_two_dpop_headers_folded_into_one_field_are_refused() -> None:
    with pytest.raises(DpopError, match="more than one DPoP header"):
        parse_dpop_header(["a.b.c, d.e.f"])


@pytest.mark.parametrize(("values", "match"), [([], "missing"), ([" "], "empty")])
def test_a_missing_dpop_header_is_refused(values: list[str], match: str) -> None:
    with pytest.raises(DpopError, match=match):
        parse_dpop_header(values)


async def test_a_missing_proof_is_refused() -> None:
    await assert_refused(None, "DPoP proof missing")


async def test_an_oversized_proof_is_refused(device: Device) -> None:
    proof = make_proof(device, claims(padding="x" * 9000))
    await assert_refused(proof, "proof too large")
    # The bound is inclusive.
    await verify(proof, max_proof_bytes=len(proof))


@pytest.mark.parametrize("proof", [
    "",
    "garbage",
    "a.b",
    "a.b.c.d.e",
    "e30.e30.c2ln!",
    "YWJj.e30.c2ln",  # header is not JSON
    "W10.e30.c2ln",  # header is a JSON array
    "ｅ３０.e30.c2ln",  # non-ASCII
    "e30..c2ln",  # empty payload (no detached payloads)
])
async def test_garbage_is_refused(proof: str) -> None:
    await assert_refused(proof, "well-formed")


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]"])
async def test_a_signed_payload_that_is_not_a_json_object_is_refused(
        device: Device, payload: bytes) -> None:
    proof = jwt.api_jws.encode(payload, device.private_key, algorithm="ES256",
                               headers={"typ": "dpop+jwt", "jwk": device.public_jwk})
    await assert_refused(proof, "well-formed|JSON object")


# --- step 2: required claims ------------------------------------------------------------


@pytest.mark.parametrize("name", ["jti", "htm", "htu", "iat"])
async def test_missing_claims_are_refused(device: Device, name: str) -> None:
    await assert_refused(make_proof(device, claims(**{name: DROP})),
                         f"missing claims: {name}")


@pytest.mark.parametrize(("overrides", "match"), [
    ({"jti": 42}, "jti must be a non-empty string"),
    ({"jti": ""}, "jti must be a non-empty string"),
    ({"jti": "j" * 257}, "jti too long"),
    ({"jti": "\ud800"}, "jti must be a non-empty string"),
    ({"htm": ["POST"]}, "htm and htu must be strings"),
    ({"htu": 42}, "htm and htu must be strings"),
    ({"iat": "1743498000"}, "iat must be a number"),
    ({"iat": True}, "iat must be a number"),
    ({"iat": None}, "iat must be a number"),
    ({"iat": float("nan")}, "iat must be a number"),
    ({"iat": float("inf")}, "iat must be a number"),
    ({"iat": 10**400}, "iat outside the acceptance window: in the future"),
    ({"iat": -(10**400)}, "iat outside the acceptance window: too old"),
    ({"ath": "\ud800"}, "ath does not match"),
])
async def test_malformed_claims_are_refused(device: Device, overrides: dict[str, Any],
                                            match: str) -> None:
    await assert_refused(make_proof(device, claims(**overrides)), match,
                         access_token=ACCESS_TOKEN if "ath" in overrides else None)


async def test_a_jti_at_the_length_limit_is_accepted(device: Device) -> None:
    await verify(make_proof(device, claims(jti="j" * 256)))


# --- step 3: typ ---------------------------------------------------------------------------


@pytest.mark.parametrize("typ", [DROP, "JWT", "at+jwt", "DPOP+JWT"])
async def test_typ_must_be_dpop_jwt(device: Device, typ: object) -> None:
    await assert_refused(make_proof(device, headers={"typ": typ}), "typ must be dpop\\+jwt")


# --- step 4: alg ---------------------------------------------------------------------------


async def test_alg_none_and_hs256_are_refused(device: Device) -> None:
    unsigned = make_proof(device, key="", algorithm="none")
    assert unsigned.endswith(".")
    await assert_refused(unsigned, "alg must be ES256")
    # Key confusion: an HMAC keyed with the public key bytes the server would trust.
    numbers = device.private_key.public_key().public_numbers()
    secret = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    await assert_refused(make_proof(device, key=secret, algorithm="HS256"), "alg must be ES256")


async def test_other_asymmetric_algorithms_are_refused(device: Device) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    await assert_refused(make_proof(device, key=rsa_key, algorithm="RS256",
                                    headers={"jwk": rsa_jwk}), "alg must be ES256")
    p384 = Device(ec.generate_private_key(ec.SECP384R1()))
    await assert_refused(make_proof(p384, algorithm="ES384"), "alg must be ES256")


async def test_a_missing_alg_is_refused(device: Device) -> None:
    header = {"typ": "dpop+jwt", "jwk": device.public_jwk}
    proof = f"{b64url_json(header)}.{b64url_json(claims())}.{b64url(b'x' * 64)}"
    await assert_refused(proof, "alg must be ES256")


@pytest.mark.parametrize("crit", [["b64"], ["urn:example:unknown"]])
async def test_a_crit_header_is_refused(device: Device, crit: list[str]) -> None:
    await assert_refused(make_proof(device, headers={"crit": crit}),
                         "crit header is not supported|well-formed")


# --- steps 5 and 6: signature and jwk ---------------------------------------------------


async def test_a_proof_whose_jwk_is_not_the_signing_key_is_refused(device: Device) -> None:
    proof = make_proof(device, headers={"jwk": Device().public_jwk})
    await assert_refused(proof, "signature does not verify with the jwk header key")


async def test_a_tampered_payload_is_refused(device: Device) -> None:
    header, _, signature = make_proof(device).split(".")
    forged = f"{header}.{b64url_json(claims(htu='https://chat.example.jp/api/admin'))}."
    await assert_refused(forged + signature, "signature does not verify")


async def test_a_truncated_signature_is_refused(device: Device) -> None:
    header, payload, signature = make_proof(device).split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    assert len(raw) == 64  # JWS ES256 is r || s, not DER
    truncated = f"{header}.{payload}.{b64url(raw[:-1])}"
    await assert_refused(truncated, "signature does not verify")


async def test_a_jwk_with_a_private_member_is_refused(device: Device) -> None:
    # The signature is valid; the client leaked its key, which must not be accepted.
    proof = make_proof(device, headers={"jwk": device.private_jwk})
    await assert_refused(proof, "jwk contains private key material")


@pytest.mark.parametrize(("jwk_of", "match"), [
    (lambda d: DROP, "jwk header missing"),
    (lambda d: "not an object", "jwk header missing"),
    (lambda d: {**d.public_jwk, "kty": "RSA"}, "EC P-256"),
    (lambda d: {**d.public_jwk, "crv": "P-384"}, "EC P-256"),
    (lambda d: {**d.public_jwk, "x": d.public_jwk["x"] + "="}, "canonical"),
    (lambda d: {**d.public_jwk, "x": b64url(b"\x01" * 31)}, "EC P-256"),
    (lambda d: {**d.public_jwk, "y": 7}, "EC P-256"),
    (lambda d: {**d.public_jwk, "y": d.public_jwk["x"]}, "not a valid P-256 public key"),
    (lambda d: {**d.public_jwk, "alg": "ES384"}, "another algorithm"),
], ids=["missing", "string", "rsa", "p384", "padded", "short", "number", "off-curve",
        "jwk-alg"])
async def test_a_jwk_that_is_not_a_p256_public_key_is_refused(
        device: Device, jwk_of: Any, match: str) -> None:
    await assert_refused(make_proof(device, headers={"jwk": jwk_of(device)}), match)


# --- step 7: htm -----------------------------------------------------------------------


@pytest.mark.parametrize("htm", ["GET", "post", "POST "])
async def test_wrong_htm_is_refused(device: Device, htm: str) -> None:
    await assert_refused(make_proof(device, claims(htm=htm)), "htm does not match")


# --- step 8: htu -----------------------------------------------------------------------


@pytest.mark.parametrize("htu", [
    "https://chat.example.jp/api/other",
    "https://chat.example.jp/api/messages/",
    "https://evil.example/api/messages",
    "http://chat.example.jp/api/messages",
    "https://chat.example.jp:8443/api/messages",
    "wss://chat.example.jp/api/messages",
])
async def test_wrong_htu_is_refused(device: Device, htu: str) -> None:
    await assert_refused(make_proof(device, claims(htu=htu)), "htu does not match")


@pytest.mark.parametrize("htu", ["/api/messages", "ftp://chat.example.jp/api/messages",
                                 "https://user@chat.example.jp/api/messages", "https:///x"])
async def test_an_htu_that_is_not_an_absolute_http_url_is_refused(device: Device,
                                                                   htu: str) -> None:
    await assert_refused(make_proof(device, claims(htu=htu)), "htu is not an absolute")


async def test_query_and_fragment_are_ignored_in_htu(device: Device) -> None:
    proof = make_proof(device, claims(htu=URL + "?channel=7#latest"))
    await verify(proof, url=URL + "?channel=8")


async def test_default_port_and_case_are_normalised(device: Device) -> None:
    proof = make_proof(device, claims(htu="HTTPS://Chat.Example.JP:443/api/%6d%65ssages"))
    await verify(proof)


@pytest.mark.parametrize(("url", "normal"), [
    ("HTTP://Example.COM", "http://example.com/"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("http://example.com:/a", "http://example.com/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com:0443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("ws://example.com:80/ws", "ws://example.com/ws"),
    ("WSS://example.com:443/ws", "wss://example.com/ws"),
    ("https://example.com/a?b=c#d", "https://example.com/a"),
    ("https://example.com?b", "https://example.com/"),
    ("https://example.com/%7euser/%2fa%2F", "https://example.com/~user/%2Fa%2F"),
    ("https://example.com/Path/%41", "https://example.com/Path/A"),
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    ("https://example.com/a/%2E%2E/c", "https://example.com/c"),
    ("https://example.com/../a", "https://example.com/a"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/日本", "https://example.com/%E6%97%A5%E6%9C%AC"),
    ("https://[::1]:443/a", "https://[::1]/a"),
    ("https://[2001:DB8::1]:8443/a", "https://[2001:db8::1]:8443/a"),
])
def test_normalize_htu(url: str, normal: str) -> None:
    assert normalize_htu(url) == normal


@pytest.mark.parametrize("url", ["/relative", "example.com/a", "mailto:a@example.com",
                                 "https://u:p@example.com/", "https:///a",
                                 "https://example.com:99999/", "https://example.com:x/"])
def test_normalize_htu_refuses_what_is_not_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_htu(url)


# --- step 9: nonce ---------------------------------------------------------------------


async def test_missing_nonce_asks_for_a_nonce(device: Device) -> None:
    with pytest.raises(DpopNonceRequired, match="nonce missing") as info:
        await verify(make_proof(device, claims(nonce=DROP)))
    assert info.value.code == "use_dpop_nonce"
    assert info.value.http_status == 401
    assert isinstance(info.value, DpopError)
    assert isinstance(info.value, Unauthenticated)


def _flip_one_character(nonce: str) -> str:
    middle = len(nonce) // 2
    return nonce[:middle] + ("A" if nonce[middle] != "A" else "B") + nonce[middle + 1:]


@pytest.mark.parametrize(("nonce", "match"), [
    (NonceIssuer(b"another-instance-key-32-bytes!!!").issue(NOW), "not issued by this server"),
    (_flip_one_character(NONCES.issue(NOW)), "not issued by this server"),
    (NONCES.issue(NOW - timedelta(seconds=301)), "expired"),
    (NONCES.issue(NOW + timedelta(seconds=6)), "issued in the future"),
    ("garbage", "not issued by this server"),
    ("", "not issued by this server"),
    (12345, "not issued by this server"),
], ids=["other-key", "tampered", "expired", "future", "garbage", "empty", "number"])
async def test_a_forged_or_expired_nonce_asks_for_a_nonce(device: Device, nonce: object,
                                                          match: str) -> None:
    with pytest.raises(DpopNonceRequired, match=match):
        await verify(make_proof(device, claims(nonce=nonce)))


async def test_a_nonce_request_means_nothing_else_is_wrong(device: Device) -> None:
    # Checks a fresh nonce could not fix come first, so use_dpop_nonce is worth a retry.
    await assert_refused(make_proof(device, claims(nonce=DROP, htm="GET")), "htm")
    await assert_refused(make_proof(device, claims(nonce=DROP)), "another key",
                         expected_jkt=Device().jkt)


async def test_an_expected_nonce_refuses_any_other_fresh_one(device: Device) -> None:
    # The websocket's hello nonce: another valid nonce of this server is not enough.
    mine, other = NONCES.issue(NOW), NONCES.issue(NOW)
    with pytest.raises(DpopNonceRequired, match="not the one this connection"):
        await verify(make_proof(device, claims(nonce=other)), expected_nonce=mine)
    await verify(make_proof(device, claims(nonce=mine)), expected_nonce=mine)


def test_a_nonce_is_valid_for_its_lifetime_inclusive() -> None:
    issuer = NonceIssuer(NONCE_KEY, lifetime_seconds=300)
    nonce = issuer.issue(NOW)
    issuer.check(nonce, NOW)
    issuer.check(nonce, NOW + timedelta(seconds=300))
    with pytest.raises(DpopNonceRequired, match="expired"):
        issuer.check(nonce, NOW + timedelta(seconds=300, milliseconds=1))


def test_every_node_sharing_the_key_accepts_the_nonce() -> None:
    nonce = NonceIssuer(NONCE_KEY).issue(NOW)
    NonceIssuer(NONCE_KEY).check(nonce, NOW + timedelta(seconds=10))


def test_a_nonce_from_a_node_slightly_ahead_is_accepted() -> None:
    issuer = NonceIssuer(NONCE_KEY, node_skew_seconds=5)
    issuer.check(issuer.issue(NOW + timedelta(seconds=5)), NOW)
    with pytest.raises(DpopNonceRequired, match="future"):
        issuer.check(issuer.issue(NOW + timedelta(seconds=5, milliseconds=1)), NOW)


def test_nonces_are_unpredictable_base64url() -> None:
    issued = {NONCES.issue(NOW) for _ in range(50)}
    assert len(issued) == 50
    # base64url is a subset of NQCHAR (%x21 / %x23-5B / %x5D-7E, RFC 9449 §8.1).
    nqchar = {chr(c) for c in [0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)]}
    for nonce in issued:
        assert nonce and set(nonce) <= nqchar
        assert "=" not in nonce and "+" not in nonce and "/" not in nonce


def test_nonce_randomness_comes_from_the_injected_source() -> None:
    fixed = NonceIssuer(NONCE_KEY, token_bytes=lambda n: b"\x00" * n)
    assert fixed.issue(NOW) == fixed.issue(NOW)
    assert fixed.issue(NOW) != fixed.issue(NOW + timedelta(milliseconds=1))


def test_a_short_nonce_key_is_refused() -> None:
    with pytest.raises(ValueError):
        NonceIssuer(b"short")


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NONCES.issue(datetime(2025, 4, 1, 9, 0))


# --- step 10: iat ----------------------------------------------------------------------


async def test_a_stale_iat_is_refused(device: Device) -> None:
    proof = make_proof(device, claims(iat=int(NOW.timestamp()) - 301))
    await assert_refused(proof, "iat outside the acceptance window: too old")


async def test_a_future_iat_beyond_skew_is_refused(device: Device) -> None:
    proof = make_proof(device, claims(iat=int(NOW.timestamp()) + 31))
    await assert_refused(proof, "iat outside the acceptance window: in the future")


@pytest.mark.parametrize("offset", [-300, 30, 0.5])
async def test_an_iat_at_the_edges_of_the_window_is_accepted(device: Device,
                                                             offset: float) -> None:
    iat = NOW.timestamp() + offset
    result = await verify(make_proof(device, claims(iat=iat)))
    assert result.iat == datetime.fromtimestamp(iat, UTC)


# --- step 11: ath and the bound key -----------------------------------------------------


async def test_wrong_ath_is_refused(device: Device) -> None:
    proof = make_proof(device, claims(ath=access_token_hash("another-session-token")))
    await assert_refused(proof, "ath does not match", access_token=ACCESS_TOKEN)


async def test_missing_ath_is_refused_when_a_token_is_presented(device: Device) -> None:
    await assert_refused(make_proof(device), "ath missing", access_token=ACCESS_TOKEN)


async def test_a_proof_signed_by_another_key_is_refused(device: Device) -> None:
    # The session was bound to `device`; a thief with the cookie signs with its own key.
    thief = Device()
    proof = make_proof(thief, claims(ath=access_token_hash(ACCESS_TOKEN)))
    await assert_refused(proof, "proof signed by another key",
                         access_token=ACCESS_TOKEN, expected_jkt=device.jkt)


# --- replay (§11.1) ---------------------------------------------------------------------


async def test_a_replayed_jti_is_refused(device: Device) -> None:
    replay = MemoryReplayCache()
    payload = claims()
    proof = make_proof(device, payload)
    await verify(proof, replay=replay)
    await assert_refused(proof, "jti replayed", replay=replay,
                         now=NOW + timedelta(seconds=1))
    # A new signature over the same jti and URI is the same proof as far as replay goes.
    await assert_refused(make_proof(device, payload), "jti replayed", replay=replay)


async def test_the_same_jti_for_another_uri_is_recorded_separately(device: Device) -> None:
    replay = MemoryReplayCache()
    jti = str(uuid.uuid4())
    await verify(make_proof(device, claims(jti=jti)), replay=replay)
    other = "https://chat.example.jp/api/reads"
    await verify(make_proof(device, claims(jti=jti, htu=other)), replay=replay, url=other)


async def test_a_refused_proof_does_not_consume_its_jti(device: Device) -> None:
    replay = MemoryReplayCache()
    proof = make_proof(device)
    await assert_refused(proof, "another key", replay=replay, expected_jkt=Device().jkt)
    with pytest.raises(DpopNonceRequired):
        await verify(make_proof(device, claims(nonce=DROP)), replay=replay)
    await verify(proof, replay=replay)
    assert len(replay) == 1


@dataclass
class RecordingReplayCache:
    calls: list[tuple[str, float, datetime]] = field(default_factory=list)

    async def first_use(self, key: str, *, ttl_seconds: float, now: datetime) -> bool:
        self.calls.append((key, ttl_seconds, now))
        return True


async def test_a_proof_is_remembered_for_its_whole_acceptance_window(device: Device) -> None:
    replay = RecordingReplayCache()
    jti = "a-client-chosen-jti"
    await verify(make_proof(device, claims(jti=jti, htu=URL + "?x=1")), replay=replay,
                 max_age_seconds=120, clock_skew_seconds=10)
    [(key, ttl, now)] = replay.calls
    assert key == hashlib.sha256(jti.encode()).hexdigest() + "|" + URL
    assert jti not in key
    assert ttl == 130
    assert now == NOW


# --- thumbprints and hashes -------------------------------------------------------------


def test_the_thumbprint_matches_rfc_7638_section_3_1() -> None:
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhD"
             "R1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C"
             "f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn"
             "1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls"
             "1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_thumbprint_matches_rfc_9449_section_6_1() -> None:
    jwk = {"kty": "EC", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
           "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "crv": "P-256"}
    assert jwk_thumbprint(jwk) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def test_an_ec_thumbprint_hashes_the_canonical_members_only(device: Device) -> None:
    jwk = device.public_jwk
    shuffled = {"y": jwk["y"], "kid": "k1", "x": jwk["x"], "use": "sig", "crv": "P-256",
                "kty": "EC"}
    assert jwk_thumbprint(jwk) == canonical_ec_thumbprint(jwk)
    assert jwk_thumbprint(shuffled) == canonical_ec_thumbprint(jwk)


@pytest.mark.parametrize("jwk", [{}, {"kty": "oct", "k": "c2VjcmV0"},
                                 {"kty": "EC", "crv": "P-256", "x": "AA"},
                                 {"kty": "EC", "crv": "P-256", "x": "AA", "y": 1}])
def test_a_thumbprint_needs_a_supported_complete_key(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        jwk_thumbprint(jwk)


def test_the_access_token_hash_matches_rfc_9449_section_7_1() -> None:
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    assert access_token_hash(ACCESS_TOKEN) == b64url(
        hashlib.sha256(ACCESS_TOKEN.encode()).digest())


async def test_a_non_ascii_access_token_is_refused(device: Device) -> None:
    await assert_refused(make_proof(device, claims(ath="x")), "not ASCII",
                         access_token="トークン")


# --- MemoryReplayCache -----------------------------------------------------------------


async def test_memory_replay_cache_remembers_a_key_until_its_ttl_ends() -> None:
    cache = MemoryReplayCache()
    assert await cache.first_use("k", ttl_seconds=60, now=NOW)
    assert not await cache.first_use("k", ttl_seconds=60, now=NOW)
    assert not await cache.first_use(
        "k", ttl_seconds=60, now=NOW + timedelta(seconds=59, microseconds=999_999))
    assert await cache.first_use("k", ttl_seconds=60, now=NOW + timedelta(seconds=60))


async def test_memory_replay_cache_evicts_expired_entries() -> None:
    cache = MemoryReplayCache()
    for n in range(10):
        await cache.first_use(f"short-{n}", ttl_seconds=10, now=NOW)
    await cache.first_use("long", ttl_seconds=100, now=NOW)
    assert len(cache) == 11
    await cache.first_use("later", ttl_seconds=10, now=NOW + timedelta(seconds=10))
    assert len(cache) == 2
    assert not await cache.first_use("long", ttl_seconds=100, now=NOW + timedelta(seconds=99))


async def test_a_full_memory_replay_cache_refuses_new_keys_rather_than_forget(
        caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryReplayCache(max_entries=2)
    assert await cache.first_use("a", ttl_seconds=10, now=NOW)
    assert await cache.first_use("b", ttl_seconds=20, now=NOW)
    with caplog.at_level(logging.WARNING, logger="chat.auth.dpop"):
        assert not await cache.first_use("c", ttl_seconds=10, now=NOW)
        assert not await cache.first_use("d", ttl_seconds=10, now=NOW)
    assert [r.message for r in caplog.records].count(
        "DPoP replay store full (2 entries): refusing new proofs") == 1
    # Nothing unexpired was forgotten to make room.
    assert not await cache.first_use("a", ttl_seconds=10, now=NOW + timedelta(seconds=9))
    assert not await cache.first_use("b", ttl_seconds=10, now=NOW + timedelta(seconds=9))
    # Once "a" expires there is room again.
    assert await cache.first_use("c", ttl_seconds=10, now=NOW + timedelta(seconds=10))
    assert len(cache) == 2


async def test_a_full_replay_cache_makes_verification_fail_closed(device: Device) -> None:
    cache = MemoryReplayCache(max_entries=1)
    await verify(make_proof(device), replay=cache)
    await assert_refused(make_proof(device), "jti replayed", replay=cache)


def test_memory_replay_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError):
        MemoryReplayCache(max_entries=0)


# --- RedisReplayCache ------------------------------------------------------------------

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set CHAT_TEST_REDIS_URL")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    assert REDIS_URL
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    prefix = f"tsunagu-test:dpop:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis_client.scan_iter(match=prefix + "*")]
    if keys:
        await redis_client.delete(*keys)


@needs_redis
async def test_redis_replay_cache_records_a_key_once(redis_client: aioredis.Redis,
                                                     redis_prefix: str) -> None:
    cache = RedisReplayCache(redis_client, prefix=redis_prefix)
    assert await cache.first_use("k", ttl_seconds=330, now=NOW)
    assert not await cache.first_use("k", ttl_seconds=330, now=NOW)
    assert 0 < await redis_client.ttl(redis_prefix + "k") <= 330
    # A fractional TTL is rounded up, never down to "no expiry" or zero.
    assert await cache.first_use("short", ttl_seconds=0.2, now=NOW)
    assert await redis_client.ttl(redis_prefix + "short") == 1


@needs_redis
async def test_redis_replay_cache_is_shared_by_every_node(redis_client: aioredis.Redis,
                                                          redis_prefix: str,
                                                          device: Device) -> None:
    assert REDIS_URL
    other_node = aioredis.from_url(REDIS_URL)
    try:
        proof = make_proof(device)
        await verify(proof, replay=RedisReplayCache(redis_client, prefix=redis_prefix))
        await assert_refused(proof, "jti replayed",
                             replay=RedisReplayCache(other_node, prefix=redis_prefix))
    finally:
        await other_node.aclose()
