"""The HQ map's base layer (pure): the city's boundary and landmarks as GeoJSON, and an
optional tile URL for the city's own GIS server.

The LGWAN has no internet, so the map must work with no tiles at all: a coordinate grid
(drawn by the client) and this file. An admin uploads it in the console; it is checked
here to be a bounded GeoJSON FeatureCollection (RFC 7946) before it is stored, so every
HQ phone can draw it without trusting it.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

MAX_LAYER_BYTES = 2 * 1024 * 1024
MAX_FEATURES = 5_000
MAX_POSITIONS = 200_000
MAX_TILE_URL_CHARS = 500
GEOMETRY_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
                  "Polygon": 2, "MultiPolygon": 3}


class MapLayerRejected(ValueError):
    """A file or URL the HQ map will not take; the message says why, in English."""


def _count_positions(coords: object, depth: int) -> int:
    """Check a geometry's nested coordinates; returns how many positions it holds."""
    if depth == 0:
        if not isinstance(coords, list) or len(coords) < 2 or not all(
                isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                for c in coords[:3]):
            raise MapLayerRejected("a position must be [longitude, latitude]")
        lon, lat = coords[0], coords[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise MapLayerRejected("a position is outside longitude/latitude ranges")
        return 1
    if not isinstance(coords, list):
        raise MapLayerRejected("coordinates must be nested arrays")
    return sum(_count_positions(c, depth - 1) for c in coords)


def _check_geometry(geometry: object) -> int:
    if geometry is None:
        return 0
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_DEPTH:
        raise MapLayerRejected(
            f"a geometry must be one of {', '.join(GEOMETRY_DEPTH)}")
    return _count_positions(geometry.get("coordinates"), GEOMETRY_DEPTH[geometry["type"]])


def check_layer(layer: object, *, size: int) -> dict[str, Any]:
    """``layer`` (parsed JSON of ``size`` bytes) if it is a FeatureCollection within
    bounds; raises MapLayerRejected naming what is wrong."""
    if size > MAX_LAYER_BYTES:
        raise MapLayerRejected(f"the file is larger than {MAX_LAYER_BYTES // 1024} KB")
    if not isinstance(layer, dict) or layer.get("type") != "FeatureCollection":
        raise MapLayerRejected("the file must be a GeoJSON FeatureCollection")
    features = layer.get("features")
    if not isinstance(features, list) or len(features) > MAX_FEATURES:
        raise MapLayerRejected(f"features must be a list of at most {MAX_FEATURES}")
    positions = 0
    for feature in features:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise MapLayerRejected("every feature must be a GeoJSON Feature")
        properties = feature.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise MapLayerRejected("a feature's properties must be an object")
        positions += _check_geometry(feature.get("geometry"))
        if positions > MAX_POSITIONS:
            raise MapLayerRejected(f"the file has more than {MAX_POSITIONS} positions")
    return {"type": "FeatureCollection", "features": features}


def check_tile_url(value: str) -> str:
    """An http(s) tile template with ``{z}``, ``{x}`` and ``{y}`` (the city's own GIS
    server), or "" for none."""
    url = value.strip()
    if not url:
        return ""
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    if len(url) > MAX_TILE_URL_CHARS or parts.scheme not in {"http", "https"} \
            or not parts.hostname or parts.username or parts.password:
        raise MapLayerRejected("the tile URL must be an http(s) URL without credentials")
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        raise MapLayerRejected("the tile URL must contain {z}, {x} and {y}")
    return url


def tile_origin(url: str) -> str | None:
    """The tile server's origin, for the page's img-src (CSP), or None."""
    if not url:
        return None
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}"
