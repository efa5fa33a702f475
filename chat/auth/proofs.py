"""The node's DPoP service: fresh nonces, proof checks against the shared replay store.

A thin holder of :mod:`chat.auth.dpop` configured from settings and secrets, so the HTTP
layer, the websocket and the sign-in actions check proofs one way.
"""

from __future__ import annotations

from datetime import datetime

from chat.auth.dpop import VerifiedProof, verify_proof
from chat.auth.dpop_nonces import NonceIssuer
from chat.auth.passkeys import ChallengeIssuer
from chat.auth.replay import ReplayCache
from chat.config import Settings
from chat.secrets import InstanceSecrets


class ProofService:
    def __init__(self, settings: Settings, secrets: InstanceSecrets,
                 replay: ReplayCache) -> None:
        self.settings = settings
        self.replay = replay
        self.nonces = NonceIssuer(secrets.dpop_nonce_key,
                                  lifetime_seconds=settings.dpop_nonce_lifetime_seconds)
        self.challenges = ChallengeIssuer(secrets.challenge_key, replay)

    def nonce(self, now: datetime) -> str:
        return self.nonces.issue(now)

    async def verify(self, proof: str | None, *, method: str, url: str, now: datetime,
                     access_token: str | None = None,
                     expected_jkt: str | None = None,
                     expected_nonce: str | None = None) -> VerifiedProof:
        return await verify_proof(
            proof, method=method, url=url, nonces=self.nonces, replay=self.replay, now=now,
            access_token=access_token, expected_jkt=expected_jkt,
            expected_nonce=expected_nonce,
            max_age_seconds=self.settings.dpop_max_age_seconds,
            clock_skew_seconds=self.settings.dpop_clock_skew_seconds)
