"""The HQ map's base layer: the boundary/landmarks GeoJSON and the tile URL an admin sets
in the console (``system_settings``), and reading them for the HQ board."""

from __future__ import annotations

import hashlib
import json

from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.map_layer import MapLayerRejected, check_layer, check_tile_url
from chat.errors import InvalidMapLayer
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

BOUNDARY_KEY = "hq_map.boundary"
TILE_URL_KEY = "hq_map.tile_url"


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


async def set_tile_url(ctx: AppContext, url: str, *, by: str,
                       actor_user_id: int | None = None) -> str:
    """Store the tile URL ("" for none). Raises InvalidMapLayer."""
    try:
        cleaned = check_tile_url(url)
    except MapLayerRejected as error:
        raise InvalidMapLayer(str(error)) from None
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.system_settings.put(TILE_URL_KEY, cleaned, at=now, by=by)
        audit_within(ctx, uow, AuditAction.HQ_MAP_SET, actor_user_id=actor_user_id, by=by,
                     tile_url_set=bool(cleaned))
    return cleaned


async def map_layer(ctx: AppContext) -> JSON:
    """What the HQ map draws under the reports: ``boundary`` (GeoJSON or null) and
    ``tile_url`` ("" for none)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        values = await uow.system_settings.values([BOUNDARY_KEY, TILE_URL_KEY])
    return {"boundary": values.get(BOUNDARY_KEY), "tile_url": values.get(TILE_URL_KEY) or ""}
