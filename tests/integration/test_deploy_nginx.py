"""The committed deployment, run: nginx started from deploy/nginx/tsunagu.conf (only its
@@PLACEHOLDERS@@ filled in) terminates TLS with a certificate from the test's own CA, in
front of two real nodes on one PostgreSQL database and one Redis bus, configured as
docs/deploy.md says (CHAT_PUBLIC_URL the public https URL, CHAT_FORWARDED_ALLOW_IPS the
proxy). Everything goes through nginx: a passkey enrollment and sign-in with DPoP proofs
for the public URL, websockets landing on both nodes, a message crossing them, a signed
PBX webhook becoming a missed-call notice; and plain HTTP redirects, /metrics refused."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chat.client import DeviceKey, SoftwareAuthenticator, TsunaguClient
from tests.integration.pbx_helpers import SUZUKI_EXT, call_event, make_secret, signed_headers
from tests.support import (
    FRAME_TIMEOUT,
    OPEN_CLIENTS,
    POSTGRES_URL,
    REDIS_URL,
    REPO_ROOT,
    ChatClient,
    RunningServer,
    base_settings,
    create_postgres_database,
    drop_postgres_database,
    enrollment_code,
    prepare_database,
    start_server,
)
from tests.support.people import SUZUKI, TANAKA
from tests.support.tls import IssuedCertificate, issue_server_certificate

pytestmark = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="the deployment runs several nodes: set CHAT_TEST_POSTGRES_URL and "
           "CHAT_TEST_REDIS_URL")

NGINX_SITE = REPO_ROOT / "deploy" / "nginx" / "tsunagu.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The group chat both people belong to in the demo city.
GROUP = "忘年会幹事"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def render_site(values: dict[str, str]) -> str:
    """The committed site file with its placeholders replaced, nothing else changed."""
    text = NGINX_SITE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    left = [line for line in text.splitlines()
            if "@@" in line and not line.lstrip().startswith("#")]
    assert left == [], "a placeholder was left"
    return text


def main_config(prefix: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf is to the site file, with every path in the
    test's own folder (nginx runs as the test's user, not as a service)."""
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
error_log {prefix}/error.log info;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""


@dataclass
class Deployment:
    nodes: tuple[RunningServer, RunningServer]
    https_port: int
    http_port: int
    certificate: IssuedCertificate

    @property
    def public_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.public_url, timeout=FRAME_TIMEOUT,
                                 verify=self.certificate.client_context())

    def device(self) -> TsunaguClient:
        return TsunaguClient(self.public_url, DeviceKey.generate(),
                             authenticator=SoftwareAuthenticator("localhost", self.public_url),
                             tls=self.certificate.client_context(), timeout=FRAME_TIMEOUT)


def start_nginx(prefix: Path, site_values: dict[str, str], https_port: int
                ) -> subprocess.Popen[bytes]:
    site = prefix / "tsunagu.conf"
    site.write_text(render_site(site_values), encoding="utf-8")
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site), encoding="utf-8")
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"),
         "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
            raise RuntimeError(f"nginx exited {process.returncode}: {log}")
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
            return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("nginx did not listen within 10 s") from None
            time.sleep(0.02)


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGQUIT)         # graceful: workers finish, then exit
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    assert POSTGRES_URL and REDIS_URL
    root = tmp_path_factory.mktemp("deploy")
    certificate = issue_server_certificate(root / "tls")
    https_port, http_port = free_port(), free_port()
    database_url = create_postgres_database(POSTGRES_URL)
    nodes: list[RunningServer] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        # As tsunagu.env.example: the public URL staff open, the proxy trusted for the
        # forwarded headers, one Redis for the bus and the replay store, one var folder
        # (one secrets file) shared by both nodes.
        settings = base_settings(
            database_url, root / "var", bus_url=REDIS_URL,
            bus_prefix=f"tsunagu-test-{uuid.uuid4().hex[:12]}:",
            public_url=f"https://localhost:{https_port}",
            forwarded_allow_ips="127.0.0.1", dev_sessions=False)
        prepare_database(settings, seed=True)
        nodes = [start_server(settings), start_server(settings)]
        nginx = start_nginx(root, {
            "SERVER_NAME": "localhost", "PUBLIC_URL": f"https://localhost:{https_port}",
            "HTTPS_LISTEN": f"127.0.0.1:{https_port}", "HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "CERT": str(certificate.server_cert), "KEY": str(certificate.server_key),
            "NODE1": f"127.0.0.1:{nodes[0].port}", "NODE2": f"127.0.0.1:{nodes[1].port}",
        }, https_port)
        yield Deployment((nodes[0], nodes[1]), https_port, http_port, certificate)
    finally:
        if nginx is not None:
            stop_nginx(nginx)
        for node in nodes:
            node.stop()
        drop_postgres_database(database_url)


def local_connections(node: RunningServer) -> int:
    """The websockets a node itself serves (its health answer, asked directly)."""
    response = httpx.get(f"{node.http_url}/healthz", timeout=FRAME_TIMEOUT)
    count: int = response.json()["connections"]
    return count


async def signed_in(deployment: Deployment, staff_number: str) -> TsunaguClient:
    """A phone enrolled and signed in with its passkey, every request through nginx."""
    client = deployment.device()
    await client.enroll(enrollment_code(deployment.nodes[0], staff_number))
    await client.sign_in()
    return client


async def chat(client: TsunaguClient) -> ChatClient:
    ws, ready = await client.connect()
    chat_client = ChatClient(ws)
    chat_client.ready = ready
    OPEN_CLIENTS.append(chat_client)
    return chat_client


async def test_sign_in_chat_across_both_nodes_and_a_pbx_notice_through_nginx(
        deployment: Deployment) -> None:
    suzuki_phone = await signed_in(deployment, SUZUKI)
    tanaka_phone = await signed_in(deployment, TANAKA)
    # A proven API request: its proof names https://localhost:PORT/api/..., which the
    # node rebuilt from the Host and X-Forwarded-Proto that nginx passed.
    me = await suzuki_phone.request("GET", "/api/me")
    assert me.status_code == 200, me.text

    suzuki = await chat(suzuki_phone)
    first = [local_connections(node) for node in deployment.nodes]
    tanaka = await chat(tanaka_phone)
    # least_conn sent the second websocket to the node without one: both carry one.
    assert sorted(first) == [0, 1]
    assert [local_connections(node) for node in deployment.nodes] == [1, 1]

    assert suzuki.ready is not None
    group = next(c for c in suzuki.ready["channels"] if c["name"] == GROUP)["id"]
    sent = (await suzuki.send_message(group, "nginx の向こうの別ノードへ"))["message"]
    received = await tanaka.expect("message", lambda f: f["message"]["id"] == sent["id"])
    assert received["message"]["body"] == "nginx の向こうの別ノードへ"

    # The PBX posts a signed Standard Webhook to the public URL; the notice reaches
    # Suzuki's websocket on whichever node.
    secret = make_secret(deployment.nodes[0])
    call_id = f"c-{uuid.uuid4().hex[:10]}"
    async with deployment.http() as http:
        for kind in ("call.ringing", "call.missed"):
            body = json.dumps(call_event(kind, call_id, extension=SUZUKI_EXT,
                                         reason="no_answer" if kind == "call.missed"
                                         else None))
            response = await http.post("/pbx/events", content=body.encode(),
                                       headers=signed_headers(secret, body))
            assert response.status_code == 200, response.text
    notice = await suzuki.expect("message", lambda f: f["message"]["kind"] == "call.missed")
    assert notice["message"]["body"].startswith("不在着信：03-1234-5678 から ")
    await suzuki_phone.aclose()
    await tanaka_phone.aclose()


async def test_a_proof_for_the_nodes_own_address_is_refused_behind_the_proxy(
        deployment: Deployment) -> None:
    """What a wrong CHAT_PUBLIC_URL or missing forwarded headers look like: the proof's
    htu differs from the URL the node rebuilds, and the request gets 401."""
    phone = await signed_in(deployment, SUZUKI)
    assert phone.token is not None
    inner_url = f"{deployment.nodes[0].http_url}/api/me"
    proof = phone.device_key.proof("GET", inner_url, nonce=phone.nonce,
                                   access_token=phone.token, iat=int(time.time()))
    async with deployment.http() as http:
        response = await http.get("/api/me", headers={
            "Authorization": f"DPoP {phone.token}", "DPoP": proof})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_dpop_proof"
    await phone.aclose()


async def test_plain_http_redirects_to_the_public_https_url(
        deployment: Deployment) -> None:
    async with httpx.AsyncClient(timeout=FRAME_TIMEOUT) as http:
        response = await http.get(f"http://127.0.0.1:{deployment.http_port}/enroll?x=1",
                                  headers={"Host": "localhost"})
    assert response.status_code == 301
    assert response.headers["location"] == f"{deployment.public_url}/enroll?x=1"


async def test_metrics_and_the_dev_path_are_not_served_through_nginx(
        deployment: Deployment) -> None:
    async with deployment.http() as http:
        assert (await http.get("/metrics")).status_code == 403
        assert (await http.get("/metrics/anything")).status_code == 403
        assert (await http.post("/dev/session", json={"staff_number": SUZUKI})
                ).status_code == 404
        # What is served comes from a node, over TLS 1.2 or later.
        health = await http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["node"] in {n.settings.node_id for n in deployment.nodes}


def handshake(deployment: Deployment, version: ssl.TLSVersion) -> str:
    """The protocol nginx agrees to when the client offers only ``version``."""
    context = deployment.certificate.client_context()
    context.set_ciphers("DEFAULT:@SECLEVEL=0")     # let the client offer the old ones
    with warnings.catch_warnings():     # TLS 1.1 is deprecated, which is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", deployment.https_port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        return str(tls.version())


def test_only_tls_1_2_and_1_3_are_accepted(deployment: Deployment) -> None:
    assert handshake(deployment, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert handshake(deployment, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    # Refused by nginx (its alert), not by this client's own OpenSSL policy.
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        handshake(deployment, ssl.TLSVersion.TLSv1_1)


async def test_a_proven_request_over_http2_is_accepted(deployment: Deployment) -> None:
    """Browsers speak HTTP/2 to nginx: the Host the node gets comes from :authority,
    and the proof's htu must still match. curl (nghttp2) sends it; httpx here has no h2."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    phone = await signed_in(deployment, TANAKA)
    assert phone.token is not None
    url = f"{deployment.public_url}/api/me"
    proof = phone.device_key.proof("GET", url, nonce=phone.nonce, access_token=phone.token,
                                   iat=int(time.time()))
    result = await asyncio.to_thread(subprocess.run, [
        curl, "--http2", "--silent", "--show-error", "--max-time", "5",
        "--cacert", str(deployment.certificate.ca_cert),
        "--header", f"Authorization: DPoP {phone.token}", "--header", f"DPoP: {proof}",
        "--write-out", "\n%{http_version} %{http_code}", url],
        capture_output=True, text=True, timeout=10, check=False)
    body, _, status = result.stdout.rpartition("\n")
    assert status == "2 200", (result.stdout, result.stderr)
    assert json.loads(body)["staff_number"] == TANAKA
    await phone.aclose()
