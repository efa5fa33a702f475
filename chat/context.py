"""What every action needs: storage, the bus, time, settings and secrets."""

from __future__ import annotations

from dataclasses import dataclass

from chat.bus import Bus
from chat.config import Settings
from chat.secrets import InstanceSecrets
from chat.store.db import Database
from chat.types import Clock


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    bus: Bus
    clock: Clock
    secrets: InstanceSecrets
