"""The HQ map's base layer: the boundary/landmarks GeoJSON an admin uploads in the console
(kept in ``system_settings``), and, with the tile URL the node was configured with
(``CHAT_MAP_TILE_URL``), what the HQ board draws under the reports."""

from __future__ import annotations

import hashlib
import json

from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.map_layer import MapLayerRejected, check_layer
from chat.errors import InvalidMapLayer
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

BOUNDARY_KEY = "hq_map.boundary"


async def set_boundary(ctx: AppContext, raw: bytes, *, by: str,
                       actor_user_id: int | None = None) -> int:
    """Store the uploaded GeoJSON (bytes as uploaded; b"" removes it); returns how many
    features it has. Raises InvalidMapLayer."""
    layer = None
    if raw.strip():
        try:
            layer = check_layer(json.loads(raw.decode("utf-8")), size=len(raw))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidMapLayer("The file is not JSON (UTF-8)") from None
        except MapLayerRejected as error:
            raise InvalidMapLayer(f"The file was refused: {error}") from None
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.system_settings.put(BOUNDARY_KEY, layer, at=now, by=by)
        audit_within(ctx, uow, AuditAction.HQ_MAP_SET, actor_user_id=actor_user_id, by=by,
                     boundary_sha256=hashlib.sha256(raw).hexdigest() if layer else None,
                     features=len(layer["features"]) if layer else 0)
    return len(layer["features"]) if layer else 0


async def map_layer(ctx: AppContext) -> JSON:
    """What the HQ map draws under the reports: ``boundary`` (GeoJSON or null) and
    ``tile_url`` ("" for none)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        values = await uow.system_settings.values([BOUNDARY_KEY])
    return {"boundary": values.get(BOUNDARY_KEY), "tile_url": ctx.settings.map_tile_url}
