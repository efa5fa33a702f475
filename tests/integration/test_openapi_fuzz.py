"""Property-based fuzz of the HTTP API from its own OpenAPI description (schemathesis).

A real server and real device-bound sessions (enrolled with a passkey, signed in): each
generated request carries the session token and a fresh DPoP proof with the server's
latest nonce (retried once on ``use_dpop_nonce``), so the requests reach the handlers
past authentication. Every operation gets positive and negative examples, derandomized
(the same examples each run). Checks: no 5xx, every 4xx/5xx body is the JSON error
shape, and every body matches the description.

Left out: sign-out and device revocation (they would end the sessions under test), and
disabling the two signed-in accounts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from chat.client import DeviceKey
from tests.support import RunningServer
from tests.support.people import YAMADA, YOSHIDA
from tests.support.sessions import signed_in

# Examples per operation and generation mode (about 65 operations x 2 modes).
MAX_EXAMPLES = 10

SKIPPED = {
    ("POST", "/api/session/sign-out"),                    # ends the session
    ("POST", "/api/admin/devices/{device_id}/revoke"),    # may revoke our own device
}

# An auditor for the records keepers' routes, an administrator for the rest (the role
# that passes the most role checks).
AUDITOR_PREFIXES = ("/api/audit/", "/api/records/")


class Device:
    """A device: its key, its session token (None before sign-in) and the latest nonce."""

    def __init__(self, key: DeviceKey, token: str | None) -> None:
        self.key, self.token = key, token
        self.nonce: str | None = None

    def headers(self, method: str, url: str) -> dict[str, str]:
        headers = {"DPoP": self.key.proof(method, url, nonce=self.nonce,
                                          access_token=self.token)}
        if self.token is not None:
            headers["Authorization"] = f"DPoP {self.token}"
        return headers


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx/5xx body is the JSON object {"error": {"code": str, "message": str}}."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code}: the error is not JSON: "
                             f"{response.text[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(
        error.get("message"), str), f"{response.status_code}: not the error shape: {body!r}"
    return None


def _call(case: Any, base_url: str, http: requests.Session,
          device: Device | None) -> requests.Response:
    """Send ``case`` as ``device``: its own proof and token replace whatever was
    generated for the security headers and cookie."""
    url = base_url + case.formatted_path
    for _ in range(2):
        kwargs = case.as_transport_kwargs(base_url=base_url)
        headers = {name: value for name, value in kwargs.get("headers", {}).items()
                   if name.lower() not in {"authorization", "dpop", "cookie"}}
        if device is not None:
            headers.update(device.headers(case.method, url))
        kwargs["headers"] = headers
        kwargs.pop("cookies", None)
        response = http.request(**kwargs, timeout=10, allow_redirects=False)
        if device is not None:
            device.nonce = response.headers.get("DPoP-Nonce", device.nonce)
        if not (response.status_code == 401
                and "use_dpop_nonce" in response.headers.get("WWW-Authenticate", "")):
            break
    return response


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    # "METHOD path" of the operations that need a session -> statuses answered.
    statuses: dict[str, Counter[int]] = field(default_factory=dict)


def _fuzz(base_url: str, devices: dict[str, Device]) -> Outcome:
    schema = schemathesis.openapi.from_url(base_url + "/api/openapi.json")
    outcome = Outcome()
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIPPED:
                continue
            kinds = {kind for requirement in operation.definition.raw.get("security") or []
                     for kind in requirement}
            device: Device | None = None
            if "dpopSession" in kinds:
                device = devices["auditor" if operation.path.startswith(AUDITOR_PREFIXES)
                                 else "admin"]
            elif "dpopProof" in kinds:
                device = devices["new"]
            _fuzz_operation(operation, base_url, http, device, outcome,
                            session="dpopSession" in kinds)
    return outcome


def _fuzz_operation(operation: Any, base_url: str, http: requests.Session,
                    device: Device | None, outcome: Outcome, *, session: bool) -> None:
    name = f"{operation.method.upper()} {operation.path}"
    statuses = outcome.statuses.setdefault(name, Counter()) if session else Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @hypothesis.settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
                             database=None, phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            if (case.path == "/api/admin/users/{staff_number}/{state}"
                    and case.path_parameters.get("staff_number") in {YAMADA, YOSHIDA}):
                return
            response = _call(case, base_url, http, device)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[
                not_a_server_error, error_shape, response_schema_conformance])

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            continue  # nothing to make invalid (no parameters, no body)
        except (Exception, BaseExceptionGroup) as failure:
            outcome.failures.append(f"{name} ({mode.value}): {failure}"[:1500])


async def _device(server: RunningServer, staff_number: str) -> Device:
    client = await signed_in(server, staff_number)
    await client.aclose()
    return Device(client.device_key, client.token)


async def test_the_api_survives_its_own_description(server: RunningServer) -> None:
    devices = {"admin": await _device(server, YAMADA),
               "auditor": await _device(server, YOSHIDA),
               "new": Device(DeviceKey.generate(), None)}
    outcome = await asyncio.to_thread(_fuzz, server.http_url, devices)
    assert not outcome.failures, "\n\n".join(outcome.failures)
    # The fuzz got past authentication: no operation was refused a session every time.
    stuck = [name for name, counts in outcome.statuses.items() if set(counts) <= {401}]
    assert not stuck, stuck


# --- defects the fuzz found, pinned ------------------------------------------------------

async def test_an_integer_beyond_64_bits_in_a_body_is_a_400(server: RunningServer) -> None:
    """Was a 500: the number reached the database driver (OverflowError on SQLite,
    out of range on PostgreSQL)."""
    client = await signed_in(server, YAMADA)
    for path, body in [("/api/channels/direct", {"user_id": 2**70}),
                       ("/api/channels/group", {"name": "x", "member_ids": [-(2**64)]})]:
        response = await client.request("POST", path, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "malformed_json"
    response = await client.request("POST", "/api/channels/direct", json={"user_id": 2**62})
    assert response.status_code == 404, response.text  # in range: no such person
    await client.aclose()


async def _post_raw(client: Any, path: str, body: bytes) -> Any:
    """POST raw JSON bytes as ``client`` (its ``request`` re-encodes what it is given)."""
    for _ in range(2):
        request = client._http.build_request(
            "POST", path, content=body, headers={"Content-Type": "application/json",
                                                 "Authorization": f"DPoP {client.token}"})
        request.headers["DPoP"] = client.device_key.proof(
            "POST", str(request.url), nonce=client.nonce, access_token=client.token)
        response = await client._http.send(request)
        client.nonce = response.headers.get("DPoP-Nonce", client.nonce)
        if response.status_code != 401:
            break
    return response


async def test_a_lone_surrogate_in_a_body_is_a_400(server: RunningServer) -> None:
    """Was a 500: JSON may escape a lone surrogate, which the database cannot encode."""
    client = await signed_in(server, YAMADA)
    for path, body in [("/api/channels/group", '{"name": "a\\ud886b", "member_ids": []}'),
                       ("/api/disaster", '{"\\udc00": 1, "name": "x"}')]:
        response = await _post_raw(client, path, body.encode())
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "malformed_json"
    await client.aclose()


async def test_an_id_beyond_64_bits_in_a_path_is_a_404(server: RunningServer) -> None:
    """Was a 500 for the same reason: ``{id:int}`` matched any number of digits."""
    client = await signed_in(server, YAMADA)
    for path in ["/api/channels/99999999999999999999/messages",
                 "/api/attachments/99999999999999999999", "/api/rollcalls/1" + "0" * 19]:
        response = await client.request("GET", path)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    await client.aclose()
