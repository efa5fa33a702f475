"""Device-bound proofs of possession: the server side of DPoP (RFC 9449), ES256 only.

Why: a session token alone must be worthless. Each device holds a P-256 key pair whose
private half never leaves it (a non-extractable WebCrypto key); every request, and every
websocket handshake, carries a fresh proof signed with that key. A stolen session cookie or
bearer token without the device key cannot produce a proof, and a captured proof cannot be
replayed: it names one method and URI, is accepted only briefly, and its ``jti`` is
remembered for as long as it would be accepted.

What is checked, numbered as the steps of RFC 9449 §4.3 (which may run in any order):

1. one ``DPoP`` header field (:func:`parse_dpop_header`);
2. holding one well-formed compact JWS, of bounded size;
3. the required claims ``jti``, ``htm``, ``htu``, ``iat`` (and ``ath``, ``nonce``) exist;
4. ``typ`` is ``dpop+jwt``;
5. ``alg`` is ES256: pinned here, never read from the token (RFC 8725 §2.1), so ``none``,
   MACs and every other algorithm are refused;
6. the signature verifies with the ``jwk`` header key (by PyJWT, never by hand);
7. that ``jwk`` is an EC P-256 public key with no private members;
8. ``htm`` is the request method;
9. ``htu`` is the request URI without query and fragment, after normalisation;
10. ``nonce`` is one this server issued (any node sharing the key) and it is fresh;
11. ``iat`` is inside ``[now - max_age, now + clock_skew]``;
12. with an access token: ``ath`` is its hash, and the key is the one the session is
    bound to (``expected_jkt``, the RFC 7638 thumbprint recorded at enrolment, §6.1).

Then, and only then, the ``jti`` is recorded (§11.1), so a refused proof cannot burn the
``jti`` of a genuine one. Every refusal raises :class:`DpopError` (``invalid_dpop_proof``)
except a missing or stale nonce, which raises :class:`DpopNonceRequired`
(``use_dpop_nonce``): the caller answers it with 401, ``WWW-Authenticate: DPoP
error="use_dpop_nonce"`` and a fresh ``DPoP-Nonce``, both listed in
``Access-Control-Expose-Headers`` for browsers (§7.1, §8, §9). The nonce is checked after
the structure, signature, key, ``htm``, ``htu`` and ``ath`` (only ``iat`` and replay come
later), so that answer means "this proof is otherwise sound: sign again with this nonce".

The module reads no clock and draws randomness only through an injectable source: callers
pass ``now`` (timezone-aware).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from chat.auth.dpop_base import (
    DpopError,
    DpopNonceRequired,
    b64url,
    b64url_decode_strict,
    require_aware,
)
from chat.auth.dpop_htu import normalize_htu
from chat.auth.dpop_nonces import NonceIssuer
from chat.auth.replay import ReplayCache

ALGORITHM = "ES256"
PROOF_TYPE = "dpop+jwt"
# A jti is an identifier (RFC 9449 §4.2 asks for >= 96 random bits, e.g. a UUID); refuse
# anything long enough to be an attempt at filling the replay store (§11.1).
MAX_JTI_CHARS = 256

# Compact JWS: three base64url segments. The signature may be empty so that "alg": "none"
# is refused by name rather than as garbage; the payload may not (no RFC 7797 detached form).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# JWK members that carry private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Members hashed by the RFC 7638 thumbprint, per key type (§3.2; OKP from RFC 8037 §2).
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_P256_COORDINATE_BYTES = 32


@dataclass(frozen=True)
class VerifiedProof:
    """A proof that passed every check.

    ``jkt`` is the RFC 7638 thumbprint of the proof key: record it when binding a session to
    a device, and pass it back as ``expected_jkt`` afterwards. ``public_jwk`` holds only the
    key's public members (``kty``, ``crv``, ``x``, ``y``).
    """

    jkt: str
    jti: str
    iat: datetime
    public_jwk: dict[str, str]


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``jwk``, base64url without padding.

    Only the required public members of the key type are hashed, as compact JSON with the
    member names in lexicographic order (§3.2, §3.3): for EC ``crv, kty, x, y``; for RSA
    ``e, kty, n``; for OKP ``crv, kty, x``. Raises ValueError for other key types or a
    missing or non-string member. It does not validate the key itself.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError("unsupported JWK key type for a thumbprint")
    canonical: dict[str, str] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise ValueError(f"JWK member {name!r} is missing or not a string")
        canonical[name] = value
    encoded = json.dumps(canonical, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(encoded.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """The ``ath`` claim for ``token``: base64url (no padding) of SHA-256 over its ASCII
    bytes (RFC 9449 §4.2). Raises ValueError (UnicodeEncodeError) for a non-ASCII token."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


# --- the proof -------------------------------------------------------------------------


def parse_dpop_header(values: list[str]) -> str:
    """The single ``DPoP`` header value among ``values`` (every field of that name, e.g.
    ``request.headers.getlist("dpop")``). Raises DpopError for none or several
    (RFC 9449 §4.3 step 1), including several folded into one field with commas, which a
    compact JWS never contains."""
    if not values:
        raise DpopError("DPoP header missing")
    if len(values) > 1 or "," in values[0]:
        raise DpopError("more than one DPoP header")
    value = values[0].strip()
    if not value:
        raise DpopError("DPoP header empty")
    return value


def _unverified_header(proof: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as error:
        raise DpopError("proof is not a well-formed JWT") from error
    return header


def _public_p256_jwk(candidate: object) -> dict[str, str]:
    """The public members of the ``jwk`` header, which must be an EC P-256 public key."""
    if not isinstance(candidate, dict):
        raise DpopError("jwk header missing or not a JSON object")
    # §4.3 step 7 (and §4.2): the jwk MUST NOT contain a private key.
    if _PRIVATE_JWK_MEMBERS & candidate.keys():
        raise DpopError("jwk contains private key material")
    if candidate.get("kty") != "EC" or candidate.get("crv") != "P-256":
        raise DpopError("jwk must be an EC P-256 public key")
    if candidate.get("alg", ALGORITHM) != ALGORITHM:
        raise DpopError("jwk is declared for another algorithm")
    x, y = candidate.get("x"), candidate.get("y")
    if not isinstance(x, str) or not isinstance(y, str):
        raise DpopError("jwk must be an EC P-256 public key")
    try:
        coordinates = (b64url_decode_strict(x), b64url_decode_strict(y))
    except ValueError as error:
        raise DpopError("jwk coordinates are not canonical base64url") from error
    if any(len(c) != _P256_COORDINATE_BYTES for c in coordinates):
        raise DpopError("jwk must be an EC P-256 public key")
    return {"kty": "EC", "crv": "P-256", "x": x, "y": y}


def _verified_claims(proof: str, public_jwk: dict[str, str]) -> dict[str, Any]:
    try:
        # algorithm is pinned, not inferred from the jwk or the token header.
        key = jwt.PyJWK(dict(public_jwk), algorithm=ALGORITHM)
    except jwt.PyJWTError as error:  # e.g. a point that is not on the curve
        raise DpopError("jwk is not a valid P-256 public key") from error
    try:
        # The signature only: the claims are checked below, against DPoP's rules.
        claims = jwt.decode(
            proof,
            key,
            algorithms=[ALGORITHM],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            },
        )
    except jwt.InvalidSignatureError as error:
        raise DpopError("signature does not verify with the jwk header key") from error
    except jwt.PyJWTError as error:
        raise DpopError("proof is not a well-formed JWT") from error
    if not isinstance(claims, dict):
        raise DpopError("proof payload is not a JSON object")
    return claims


def _is_numeric_date(value: object) -> bool:
    # JSON numbers arrive as int (possibly huge: never convert those to float) or float
    # (possibly NaN or infinite: Python's json accepts both).
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _is_text(value: object) -> bool:
    """A non-empty str that is valid Unicode (JSON may smuggle in lone surrogates)."""
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strings_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))


async def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    nonces: NonceIssuer,
    replay: ReplayCache,
    now: datetime,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    expected_nonce: str | None = None,
    max_age_seconds: float = 300,
    clock_skew_seconds: float = 30,
    max_proof_bytes: int = 8192,
) -> VerifiedProof:
    """Check ``proof`` for a request ``method url`` at ``now``; see the module docstring.

    ``url`` is the request URL as the client addressed it (see :func:`normalize_htu`; a
    ValueError from it is the caller's bug). ``method`` is compared case-sensitively.
    Pass ``access_token`` to require a matching ``ath`` and ``expected_jkt`` to require the
    key a session is bound to, and ``expected_nonce`` to require one nonce (a websocket's
    ``hello``) rather than any fresh one this server issued. ``iat`` is accepted in
    ``[now - max_age_seconds, now + clock_skew_seconds]``, bounds inclusive. A proof that
    passes is recorded in ``replay`` for ``max_age_seconds + clock_skew_seconds``, the
    whole window in which it would be accepted, keyed by ``sha256(jti) | normalized
    htu`` (§11.1: per target URI; hashed so a client-chosen ``jti`` is never stored
    verbatim).

    Raises DpopNonceRequired for a missing or stale nonce, DpopError for every other
    failure (including a replayed ``jti``).
    """
    require_aware(now)
    request_htu = normalize_htu(url)

    # Step 2: one well-formed JWT, bounded before any parsing (step 1 is the caller's,
    # through parse_dpop_header).
    if proof is None:
        raise DpopError("DPoP proof missing")
    if len(proof.encode("utf-8")) > max_proof_bytes:
        raise DpopError("proof too large")
    if not _COMPACT_JWS.fullmatch(proof):
        raise DpopError("proof is not a well-formed JWT")
    header = _unverified_header(proof)

    # Steps 4-7. The header is untrusted until the signature verifies, but these checks
    # only refuse, and must precede verification: alg and key type decide how to verify.
    if header.get("typ") != PROOF_TYPE:
        raise DpopError("typ must be dpop+jwt")
    if header.get("alg") != ALGORITHM:
        raise DpopError("alg must be ES256")
    if "crit" in header:
        # RFC 7515 §4.1.11: no JWS extension is understood for DPoP proofs.
        raise DpopError("crit header is not supported")
    public_jwk = _public_p256_jwk(header.get("jwk"))
    claims = _verified_claims(proof, public_jwk)

    # Step 3: required claims and their types.
    missing = [name for name in ("jti", "htm", "htu", "iat") if name not in claims]
    if missing:
        raise DpopError("proof is missing claims: " + ", ".join(missing))
    jti, htm, htu, iat = claims["jti"], claims["htm"], claims["htu"], claims["iat"]
    if not _is_text(jti):
        raise DpopError("jti must be a non-empty string")
    if len(jti) > MAX_JTI_CHARS:
        raise DpopError("jti too long")
    if not isinstance(htm, str) or not isinstance(htu, str):
        raise DpopError("htm and htu must be strings")
    if not _is_numeric_date(iat):
        raise DpopError("iat must be a number")

    # Step 8: the method token is case-sensitive (RFC 9110 §9.1).
    if htm != method:
        raise DpopError("htm does not match the request method")

    # Step 9.
    try:
        proof_htu = normalize_htu(htu)
    except ValueError as error:
        raise DpopError("htu is not an absolute http(s) URL") from error
    if proof_htu != request_htu:
        raise DpopError("htu does not match the request URL")

    # Step 12 (§4.3, §7.1): the token and the key the session is bound to.
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise DpopError("ath missing")
        try:
            expected_ath = access_token_hash(access_token)
        except UnicodeEncodeError as error:
            raise DpopError("access token is not ASCII") from error
        if not _strings_equal(ath, expected_ath):
            raise DpopError("ath does not match the access token")
    jkt = jwk_thumbprint(public_jwk)
    if expected_jkt is not None and not _strings_equal(jkt, expected_jkt):
        raise DpopError("proof signed by another key")

    # Step 10: a missing or stale nonce is the one failure the client fixes by retrying.
    nonce = claims.get("nonce")
    if nonce is None:
        raise DpopNonceRequired("nonce missing")
    if not isinstance(nonce, str):
        raise DpopNonceRequired("nonce was not issued by this server")
    nonces.check(nonce, now)
    if expected_nonce is not None and not _strings_equal(nonce, expected_nonce):
        raise DpopNonceRequired("nonce is not the one this connection was given")

    # Step 11 (§11.1): accepted briefly after creation, slightly early for clock skew.
    now_ts = now.timestamp()
    if iat < now_ts - max_age_seconds:
        raise DpopError("iat outside the acceptance window: too old")
    if iat > now_ts + clock_skew_seconds:
        raise DpopError("iat outside the acceptance window: in the future")

    # §11.1: last, so only a proof that passed everything consumes its jti. ES256
    # signatures are malleable ((r, s) and (r, n - s) both verify), so the key is the
    # jti, never the token's bytes.
    replay_key = hashlib.sha256(jti.encode("utf-8")).hexdigest() + "|" + proof_htu
    window = max_age_seconds + clock_skew_seconds
    if not await replay.first_use(replay_key, ttl_seconds=window, now=now):
        raise DpopError("jti replayed")

    return VerifiedProof(
        jkt=jkt,
        jti=jti,
        iat=datetime.fromtimestamp(iat, UTC),
        public_jwk=public_jwk,
    )
