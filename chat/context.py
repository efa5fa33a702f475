"""What every action needs: storage, the bus, time, settings and secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chat.bus import Bus
from chat.config import Settings
from chat.secrets import InstanceSecrets
from chat.store.db import Database
from chat.types import Clock

if TYPE_CHECKING:
    from chat.auth.policy import PolicySource
    from chat.auth.proofs import ProofService


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    bus: Bus
    clock: Clock
    secrets: InstanceSecrets
    # Set by a serving node's lifespan; absent in the CLI, which checks no proofs.
    proofs: ProofService | None = None
    policy: PolicySource | None = None

    def require_proofs(self) -> ProofService:
        if self.proofs is None:
            raise RuntimeError("this context checks no DPoP proofs (not a serving node)")
        return self.proofs
