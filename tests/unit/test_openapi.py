"""The OpenAPI description (chat/web/openapi.py) covers every HTTP API route, names no
route that is gone, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from starlette.routing import Route

from chat.app import create_app
from chat.config import Settings
from chat.web.openapi import declarations, describe, stale, undescribed


def _routes(tmp_path: Path) -> list[Route]:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                              var_dir=tmp_path))
    return [r for r in app.routes if isinstance(r, Route)]


def test_every_api_route_is_described(tmp_path: Path) -> None:
    assert undescribed(_routes(tmp_path)) == []


def test_no_description_outlives_its_route(tmp_path: Path) -> None:
    assert stale(_routes(tmp_path)) == []


def test_a_route_without_a_description_is_named() -> None:
    async def endpoint() -> None:
        return None

    extra = [Route("/api/new-thing", endpoint, methods=["POST"]),
             Route("/admin/page", endpoint)]
    assert undescribed(extra) == ["POST /api/new-thing"]


def test_the_description_is_valid_openapi_3_1(tmp_path: Path) -> None:
    document = describe(_routes(tmp_path))
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(declarations())
    # Path parameters come from the route convertors, in OpenAPI's template syntax.
    history = document["paths"]["/api/channels/{channel_id}/messages"]["get"]
    assert history["parameters"][0] == {"name": "channel_id", "in": "path",
                                        "required": True,
                                        "schema": {"type": "integer", "minimum": 0,
                                                   "maximum": 10**18 - 1}}
    # Every operation answers errors in the one JSON shape.
    for path in document["paths"].values():
        for operation in path.values():
            assert operation["responses"]["default"]["content"]["application/json"][
                "schema"] == {"$ref": "#/components/schemas/Error"}
    schemes = document["components"]["securitySchemes"]
    assert schemes["dpopProof"] == {**schemes["dpopProof"], "in": "header", "name": "DPoP"}
    assert schemes["sessionCookie"]["name"] == "tsunagu_session"
