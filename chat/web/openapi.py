"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/openapi.json``.

Built from the app's own Starlette routes (paths, methods and path parameters come from
the routes, so they cannot drift) plus the per-operation declarations in ``OPERATIONS``
below (summary, query parameters, request body, success status and body; the PBX
webhooks' come from the formats registry). A route under
``/api/``, ``/auth/``, ``/pbx/``, ``/healthz`` or ``/readyz`` with no declaration makes
:func:`undescribed` non-empty, which a test turns into a failure; a declaration whose
route is gone does the same (:func:`stale`). The property-based fuzz
(tests/integration/test_openapi_fuzz.py) runs schemathesis against this description.

Hand-written on purpose: the handlers parse their input by hand (``read_json_object``
and explicit checks), so there is no model class to derive a schema from. Success bodies
are described loosely (an object with the keys a client relies on); every error is the
one shape of ``chat/web/errors.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from starlette.convertors import FloatConvertor, IntegerConvertor, PathConvertor
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from chat.domain.pbx_formats.registry import formats as pbx_formats

JSON = dict[str, Any]

# The parts of the app the description covers (the admin console's HTML forms, the
# client's pages and the development routes are not an API).
DESCRIBED_PREFIXES = ("/api/", "/auth/", "/pbx/")
DESCRIBED_PATHS = ("/healthz", "/readyz")

ERROR: JSON = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        # Some errors add fields (message_ja, field...).
        "additionalProperties": True}},
}


def obj(*required: str, **properties: JSON) -> JSON:
    """An object schema: ``required`` keys, typed ``properties``, others allowed."""
    schema: JSON = {"type": "object"}
    if required:
        schema["required"] = list(required)
    if properties:
        schema["properties"] = properties
    return schema


def strict(*required: str, **properties: JSON) -> JSON:
    """A request body: only the named keys (the fuzz then sends what handlers read)."""
    return {**obj(*required, **properties), "additionalProperties": False}


STR: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}
BOOL: JSON = {"type": "boolean"}
OPT_STR: JSON = {"type": ["string", "null"]}
OPT_INT: JSON = {"type": ["integer", "null"]}
ARR: JSON = {"type": "array"}
ANY_OBJ: JSON = {"type": "object"}


@dataclass(frozen=True)
class Op:
    """One operation's declaration. ``auth``: ``session`` (a DPoP-bound session),
    ``proof`` (a DPoP proof, no session yet), ``none``, or ``pbx`` (a signed webhook)."""
    summary: str
    ok: int = 200
    response: JSON = field(default_factory=lambda: ANY_OBJ)
    body: JSON | None = None
    body_media: str = "application/json"
    query: Mapping[str, JSON] = field(default_factory=dict)
    response_media: str = "application/json"
    auth: str = "session"
    tags: Sequence[str] = ()


def _image(summary: str) -> Op:
    return Op(summary, response={"type": "string", "format": "binary"},
              response_media="image/*")


def _upload(summary: str, key: str, query: Mapping[str, JSON] | None = None) -> Op:
    return Op(summary, ok=201, response=obj(key), query=query or {},
              body={"type": "string", "format": "binary"}, body_media="image/jpeg")


_MESSAGE = obj("message", message=ANY_OBJ)
_ROLLCALL = obj("rollcall", rollcall=ANY_OBJ)
_RECORD_FILTERS: JSON = strict(user=STR, channel_id=INT, **{"from": STR, "to": STR}, q=STR)

# (method, Starlette route path) -> declaration. The path is the route's own string, with
# its convertors ("{channel_id:int}"), so a renamed route shows up as undescribed.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op(
        "Liveness and readiness of this node (503 when the database or bus is down)",
        response=obj("status", "node", "database", "bus", "connections"), auth="none"),
    ("GET", "/readyz"): Op(
        "Readiness for a load balancer: the database answers, the bus is reachable and "
        "the schema is this release's (503 naming the failed checks in `failed`)",
        response=obj("status", "node", "checks"), auth="none"),
    ("GET", "/api/openapi.json"): Op("This description", auth="none"),
    # --- session and directory (chat.web.api) ---
    ("GET", "/api/me"): Op("Who is signed in, and the session's deadlines",
                           response=obj("id", "staff_number", "name", "role", "session")),
    ("POST", "/api/session/sign-out"): Op("End this session (clears the cookie)",
                                          response=obj("signed_out")),
    ("POST", "/api/session/refresh"): Op(
        "Slide the idle deadline", response=obj("expires_at", "idle_expires_at")),
    ("GET", "/api/channels"): Op("My channels", response=obj("channels", channels=ARR)),
    ("POST", "/api/channels/direct"): Op("Open (or find) a direct channel",
                                         body=strict("user_id", user_id=INT)),
    ("POST", "/api/channels/group"): Op(
        "Create a group channel", ok=201,
        body=strict("name", "member_ids", name=STR,
                    member_ids={"type": "array", "items": INT})),
    ("GET", "/api/channels/{channel_id:int}/messages"): Op(
        "A page of a channel's history", query={"before_seq": INT, "limit": INT}),
    ("GET", "/api/messages/{message_id:int}/revisions"): Op(
        "A message's edit history", response=obj("revisions", revisions=ARR)),
    ("GET", "/api/channels/{channel_id:int}/pins"): Op(
        "Pinned messages", response=obj("channel_id", "messages", messages=ARR)),
    ("PUT", "/api/channels/{channel_id:int}/mute"): Op(
        "Mute or unmute a channel", body=strict("muted", muted=BOOL)),
    ("GET", "/api/messages/{message_id:int}/readers"): Op("Who has read a message"),
    ("GET", "/api/search/messages"): Op(
        "Full-text search in my channels", response=obj("results", results=ARR),
        query={"q": STR, "limit": INT, "channel_id": INT}),
    ("GET", "/api/users"): Op("The staff directory", response=obj("users", users=ARR),
                              query={"q": STR, "limit": INT}),
    ("GET", "/api/departments"): Op("The org chart",
                                    response=obj("departments", departments=ARR)),
    # --- photos ---
    ("POST", "/api/channels/{channel_id:int}/attachments"): _upload(
        "Upload a photo to a channel (JPEG, PNG, WebP, HEIC)", "attachment",
        {"share_location": STR, "lat": {"type": "number"}, "lon": {"type": "number"}}),
    ("GET", "/api/attachments/{attachment_id:int}"): _image("A photo"),
    ("GET", "/api/attachments/{attachment_id:int}/thumb"): _image("A photo's thumbnail"),
    # --- web push ---
    ("GET", "/api/push/key"): Op("The VAPID public key", response=obj("public_key")),
    ("POST", "/api/push/subscriptions"): Op(
        "Register this browser's push subscription", ok=201,
        body=strict("endpoint", "keys", endpoint=STR,
                    keys=strict("p256dh", "auth", p256dh=STR, auth=STR))),
    ("DELETE", "/api/push/subscriptions"): Op("Remove a push subscription",
                                              body=strict("endpoint", endpoint=STR)),
    # --- administrators and records keepers (chat.web.admin) ---
    ("GET", "/api/admin/devices"): Op("Enrolled devices (admin)", response=obj("devices"),
                                      query={"staff_number": STR}),
    ("POST", "/api/admin/devices/{device_id:int}/revoke"): Op(
        "Revoke a device and end its sessions (admin)",
        body=strict(reason=STR), response=obj("revoked", "sessions_ended")),
    ("POST", "/api/admin/users/{staff_number}/{state:str}"): Op(
        "Enable or disable an account (admin); state is enable or disable",
        response=obj("active", "sessions_ended")),
    ("GET", "/api/admin/retention"): Op("Retention periods", response=obj("policies")),
    ("PUT", "/api/admin/retention"): Op(
        "Set a retention period (admin)",
        body=strict("keep_years", keep_years=OPT_INT, channel_kind=OPT_STR,
                    channel_id=OPT_INT)),
    ("GET", "/api/records/holds"): Op("Legal holds", response=obj("holds"),
                                      query={"all": STR}),
    ("POST", "/api/records/holds"): Op(
        "Place a legal hold (auditor)", ok=201,
        body=strict(reason=OPT_STR, staff_number=OPT_STR, channel_id=OPT_INT,
                    since=OPT_STR, until=OPT_STR, confidential=BOOL)),
    ("POST", "/api/records/holds/{hold_id:int}/release"): Op("Release a legal hold"),
    # --- auditors (chat.web.records) ---
    ("GET", "/api/audit/messages"): Op(
        "Search the message record (auditor)",
        query={"user": STR, "channel_id": STR, "from": STR, "to": STR, "q": STR,
               "cursor": STR, "limit": STR, "reason": STR}),
    ("GET", "/api/audit/messages/{message_id:int}"): Op("One message's full history",
                                                        query={"reason": STR}),
    ("GET", "/api/me/access"): Op(
        "When auditors or admins read or exported the messages I sent"),
    ("POST", "/api/audit/exports"): Op(
        "Start an export; poll its status", ok=202, response=obj("export"),
        body=strict(filters=_RECORD_FILTERS, reason=STR,
                    formats={"type": "array", "items": {"enum": ["jsonl", "csv"]}})),
    ("GET", "/api/audit/exports/{export_id:int}"): Op("An export's status",
                                                      response=obj("export")),
    ("GET", "/api/audit/exports/{export_id:int}/files/{name}"): Op(
        "One file of a finished export", response={"type": "string"},
        response_media="*/*"),
    # --- passkeys and sign-in (chat.web.passkeys) ---
    ("GET", "/auth/nonce"): Op("A fresh DPoP nonce", response=obj("nonce"), auth="none"),
    ("POST", "/auth/enroll/options"): Op(
        "WebAuthn creation options for a one-time enrollment code",
        body=strict("code", code=STR), auth="none"),
    ("POST", "/auth/enroll/complete"): Op(
        "Register the passkey and the device key (the DPoP proof's key)", ok=201,
        body=strict("code", "credential", code=STR, credential=ANY_OBJ), auth="proof"),
    ("POST", "/auth/signin/options"): Op(
        "WebAuthn request options", body=strict(credential_id=STR), auth="none"),
    ("POST", "/auth/signin"): Op(
        "Sign in with a passkey; the session is bound to the proof's key (cookie)",
        body=strict("credential", credential=ANY_OBJ), auth="proof",
        response=obj("ath", "user", "device", "expires_at", "idle_expires_at")),
    # --- notices and cards ---
    ("POST", "/api/notices/{message_id:int}/claim"): Op(
        "Claim a missed-call notice (対応します)", response=_MESSAGE),
    ("POST", "/api/notices/{message_id:int}/done"): Op("Mark a notice done",
                                                       response=_MESSAGE),
    ("POST", "/api/cards/{kind}"): Op(
        "Post a card of a registered kind (memo, broadcast, report...)", ok=201,
        body=ANY_OBJ, response=_MESSAGE),
    ("POST", "/api/memos"): Op("Post a phone memo (older address of /api/cards/memo)",
                               ok=201, body=ANY_OBJ, response=_MESSAGE),
    ("GET", "/api/broadcast/targets"): Op("Whom I may broadcast to"),
    ("GET", "/api/broadcast/unconfirmed"): Op("Urgent broadcasts I have not confirmed"),
    # --- disaster mode ---
    ("GET", "/api/disaster"): Op("The declared disaster or drill",
                                 response=obj("disaster", "may_declare")),
    ("POST", "/api/disaster"): Op("Declare a disaster or drill (crisis, admin)", ok=201,
                                  body=strict("name", name=STR, drill=BOOL),
                                  response=obj("disaster")),
    ("POST", "/api/disaster/end"): Op("End the disaster or drill", response=obj("ended")),
    ("GET", "/api/reports"): Op(
        "The HQ board of field reports",
        query={"category": STR, "severity": STR, "status": STR, "before": STR}),
    ("POST", "/api/reports/photos"): _upload("Upload a field report photo", "photo"),
    ("GET", "/api/reports/photos/{attachment_id:int}"): _image("A report photo"),
    ("GET", "/api/reports/photos/{attachment_id:int}/thumb"): _image(
        "A report photo's thumbnail"),
    ("GET", "/api/reports/positions"): Op("Reports' positions (audited)",
                                          query={"ids": STR}),
    ("GET", "/api/reports/map"): Op("The HQ map's base layer"),
    ("POST", "/api/reports/{message_id:int}/status"): Op(
        "Change a report's status", body=strict("status", status=STR), response=_MESSAGE),
    # --- roll calls ---
    ("POST", "/api/rollcalls"): Op(
        "Start a safety roll call (HQ)", ok=201, response=_ROLLCALL,
        body=strict("text", text=STR, deadline_minutes=OPT_INT)),
    ("GET", "/api/rollcalls"): Op("Roll calls I can see"),
    ("GET", "/api/rollcalls/{rollcall_id:int}"): Op("A roll call and my answer"),
    ("POST", "/api/rollcalls/{rollcall_id:int}/answer"): Op(
        "Answer a roll call", response=obj("answer"),
        body=strict("status", status=STR, note=OPT_STR,
                    position={"type": ["object", "null"]})),
    ("GET", "/api/rollcalls/{rollcall_id:int}/tally"): Op("The tally (HQ)",
                                                          response=obj("tally")),
    ("POST", "/api/rollcalls/{rollcall_id:int}/remind"): Op(
        "Remind who has not answered (HQ)", response=obj("reminded")),
    ("POST", "/api/rollcalls/{rollcall_id:int}/end"): Op("End a roll call (HQ)",
                                                         response=_ROLLCALL),
    ("GET", "/api/rollcalls/{rollcall_id:int}/export.csv"): Op(
        "The answers as CSV (HQ)", response={"type": "string"},
        response_media="text/csv"),
}


def _version() -> str:
    try:
        return metadata.version("tsunagu")
    except metadata.PackageNotFoundError:
        return "0"


def declarations() -> dict[tuple[str, str], Op]:
    """``OPERATIONS`` plus one per registered PBX format's webhook route, so adding a
    format (docs/extending.md) needs nothing here."""
    webhooks = {("POST", pbx_format.route): Op(
        f"A {pbx_format.label} webhook delivery, signed with a {pbx_format.secret_label} "
        "(docs/pbx.md); the body is the format's own", ok=200, auth="pbx",
        body={"type": "string", "format": "binary"}, body_media="application/octet-stream",
        response=obj("status", "event_id", "call_state")) for pbx_format in pbx_formats()}
    return {**OPERATIONS, **webhooks}


def described(path: str) -> bool:
    return path.startswith(DESCRIBED_PREFIXES) or path in DESCRIBED_PATHS


def _operations(routes: Iterable[BaseRoute]) -> Iterable[tuple[Route, str]]:
    for route in routes:
        if isinstance(route, Route) and described(route.path):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield route, method


def undescribed(routes: Iterable[BaseRoute]) -> list[str]:
    """``METHOD path`` of each served operation with no declaration."""
    known = declarations()
    return [f"{method} {route.path}" for route, method in _operations(routes)
            if (method, route.path) not in known]


def stale(routes: Iterable[BaseRoute]) -> list[str]:
    """Declarations no route serves any more."""
    served = {(method, route.path) for route, method in _operations(routes)}
    return [f"{method} {path}" for method, path in declarations()
            if (method, path) not in served]


def _path_parameters(route: Route) -> tuple[str, list[JSON]]:
    """The OpenAPI path template and its parameters, from the route's convertors."""
    template = route.path
    params = []
    for name, convertor in route.param_convertors.items():
        if isinstance(convertor, IntegerConvertor):
            # At most 18 digits (BoundedIntConvertor in chat/web/__init__.py).
            schema: JSON = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}
        elif isinstance(convertor, FloatConvertor):
            schema = {"type": "number", "minimum": 0}
        elif isinstance(convertor, PathConvertor):
            schema = {"type": "string"}
        else:  # str: one non-empty segment
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        for suffix in ("", ":int", ":str", ":float", ":path", ":uuid"):
            template = template.replace("{" + name + suffix + "}", "{" + name + "}")
    return template, params


_SECURITY: dict[str, list[JSON]] = {
    "session": [{"dpopSession": [], "dpopProof": []},
                {"sessionCookie": [], "dpopProof": []}],
    "proof": [{"dpopProof": []}],
    "pbx": [{"pbxSignature": []}],
    "none": [],
}


def _operation(route: Route, method: str, op: Op, path_params: list[JSON]) -> JSON:
    parameters = path_params + [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in op.query.items()]
    responses: JSON = {
        str(op.ok): {"description": "Success",
                     "content": {op.response_media: {"schema": op.response}}},
        "default": {"description": "An error (docs/protocol.md)",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}},
    }
    operation: JSON = {
        "operationId": f"{method.lower()}{route.path}",
        "summary": op.summary, "tags": [route.path.split("/")[1] if route.path.count("/")
                                        else "health"],
        "parameters": parameters, "responses": responses,
        "security": _SECURITY[op.auth],
    }
    if op.body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {op.body_media: {"schema": op.body}}}
    return operation


def describe(routes: Iterable[BaseRoute]) -> JSON:
    """The OpenAPI 3.1 document for ``routes`` (undescribed ones are left out: the
    completeness test names them)."""
    paths: dict[str, JSON] = {}
    known = declarations()
    for route, method in _operations(routes):
        op = known.get((method, route.path))
        if op is None:
            continue
        template, path_params = _path_parameters(route)
        paths.setdefault(template, {})[method.lower()] = _operation(
            route, method, op, path_params)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tsunagu HTTP API", "version": _version(),
                 "description": "Wire contract: docs/protocol.md; security: "
                                "docs/security.md. The websocket (/ws) is not HTTP "
                                "and is described in docs/protocol.md only."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "dpopSession": {
                    "type": "http", "scheme": "DPoP",
                    "description": "Authorization: DPoP <session token> (RFC 9449), "
                                   "always with a DPoP proof header"},
                "sessionCookie": {
                    "type": "apiKey", "in": "cookie", "name": "tsunagu_session",
                    "description": "The HttpOnly session cookie set by /auth/signin; "
                                   "always with a DPoP proof header"},
                "dpopProof": {
                    "type": "apiKey", "in": "header", "name": "DPoP",
                    "description": "A DPoP proof JWT (ES256) signed by the device key: "
                                   "htm, htu, iat, jti, the latest DPoP-Nonce as nonce, "
                                   "and ath once there is a session. A 401 "
                                   "use_dpop_nonce carries a fresh DPoP-Nonce to retry "
                                   "with (docs/security.md)."},
                "pbxSignature": {
                    "type": "apiKey", "in": "header", "name": "webhook-signature",
                    "description": "The PBX format's signature headers (docs/pbx.md)"},
            },
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    """``GET /api/openapi.json``: built once per app from its routes."""
    cached: JSON | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = describe(request.app.routes)
        request.app.state.openapi = cached
    return JSONResponse(cached)


routes = [Route("/api/openapi.json", openapi_json)]
