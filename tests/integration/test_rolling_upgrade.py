"""Rolling upgrades (docs/upgrade.md): a node of the previous release and a node of this
one serve side by side on a database this release migrated; and a release older than
the schema may go on serving it exactly when every newer migration only expanded it."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support import REDIS_URL, ChatClient, base_settings, start_server
from tests.support.people import SUZUKI, TANAKA
from tests.support.servers import FRAME_TIMEOUT, REPO_ROOT

#: The release before this one: main as the last session left it (issue 26 was opened on
#: it). Move it forward whenever a release is cut, so this test always runs the previous
#: release's code against this release's migrations (docs/upgrade.md, "Cutting a release").
PREVIOUS_RELEASE = "853f2363f3afa89e711843fec63f508db814543a"
#: What the previous release needs to serve: its code, pages and migrations, which were
#: still beside the package then (``alembic/``, found through ``alembic.ini``). When
#: PREVIOUS_RELEASE moves past the release that moved them into ``chat/migrations``,
#: this becomes RELEASE_PATHS.
PREVIOUS_RELEASE_PATHS = ("chat", "admin", "web_client", "alembic", "alembic.ini")
#: What this release needs to serve: its code and pages; the migrations are in ``chat``.
RELEASE_PATHS = ("chat", "admin", "web_client")


def release_tree(commit: str, into: Path, paths: tuple[str, ...]) -> Path:
    """The files ``paths`` of ``commit`` (from this checkout's git history) under
    ``into``."""
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("the previous release is read from git history; this copy has none")
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar",
                              commit, *paths], capture_output=True, check=False,
                             timeout=60)
    assert archive.returncode == 0, (
        f"git cannot give release {commit}: {archive.stderr.decode()!r} (a shallow clone? "
        "CI clones the whole history)")
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ReleaseNode:
    """A node of another release's code, as its own ``tsunagu serve`` process."""

    def __init__(self, tree: Path, env: dict[str, str]) -> None:
        self.tree, self.env, self.port = tree, env, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def tsunagu(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "chat.cli", *args], cwd=self.tree,
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, f"tsunagu {' '.join(args)}: {done.stderr}"
        return done.stdout

    def serve(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chat.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--dev-sessions"],
            cwd=self.tree, env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the previous release's node exited"
            try:
                if httpx.get(f"{self.http_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the previous release's node did not start")

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


async def connect(http_url: str, staff_number: str) -> ChatClient:
    """A dev-session websocket client on the node at ``http_url``."""
    async with httpx.AsyncClient(base_url=http_url, timeout=FRAME_TIMEOUT) as http:
        response = await http.post("/dev/session", json={"staff_number": staff_number})
        assert response.status_code == 200, response.text
    ws = await websockets.connect(http_url.replace("http", "ws", 1) + "/ws",
                                  open_timeout=FRAME_TIMEOUT)
    client = ChatClient(ws)
    await client.send({"type": "auth", "token": response.json()["token"]})
    client.ready = await client.expect("ready")
    return client


@pytest.fixture
def previous_node(tmp_path: Path, backend: str, database_url: str) -> Iterator[ReleaseNode]:
    if backend != "postgres":
        pytest.skip("a rolling upgrade is several nodes: PostgreSQL + Redis")
    tree = release_tree(PREVIOUS_RELEASE, tmp_path / "previous", PREVIOUS_RELEASE_PATHS)
    assert REDIS_URL
    env = {**os.environ, "PYTHONPATH": str(tree), "CHAT_DATABASE_URL": database_url,
           "CHAT_BUS_URL": REDIS_URL, "CHAT_BUS_PREFIX": f"tsunagu-test-{uuid.uuid4().hex}:",
           "CHAT_VAR_DIR": str(tmp_path / "var"), "CHAT_OFF_HOURS_POLICY": "off"}
    node = ReleaseNode(tree, env)
    imported = subprocess.run([sys.executable, "-c", "import chat; print(chat.__file__)"],
                              cwd=tree, env=env, capture_output=True, text=True, check=True)
    assert imported.stdout.startswith(str(tree)), "the old node would run this release"
    yield node
    if node.process is not None:
        node.stop()


async def test_previous_and_this_release_serve_side_by_side(
        previous_node: ReleaseNode, tmp_path: Path, database_url: str) -> None:
    # The city runs the previous release: its own migrate and demo city.
    previous_node.tsunagu("migrate")
    previous_node.tsunagu("seed-demo")
    previous_node.serve()
    suzuki = await connect(previous_node.http_url, SUZUKI)
    assert suzuki.ready is not None
    group = next(c for c in suzuki.ready["channels"] if c["name"] == "忘年会幹事")["id"]
    before = (await suzuki.send_message(group, "更新前に送りました"))["message"]

    # This release's migrate runs while the old node serves, then a node of it starts.
    migrated = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "chat.cli", "migrate"], cwd=REPO_ROOT,
        env={**previous_node.env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
        text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    settings = base_settings(database_url, tmp_path / "var", bus_url=REDIS_URL or "",
                             bus_prefix=previous_node.env["CHAT_BUS_PREFIX"])
    new_node = start_server(settings)
    try:
        tanaka = await connect(new_node.http_url, TANAKA)
        # Old → new and new → old, live over the shared bus, in order, each once.
        sent = (await suzuki.send_message(group, "旧版のノードから"))["message"]
        assert (await tanaka.expect("message", lambda f: f["message"]["id"] == sent["id"])
                )["message"]["body"] == "旧版のノードから"
        await tanaka.send({"type": "read", "channel_id": group, "seq": sent["seq"]})
        tanaka_id = tanaka.ready["user"]["id"] if tanaka.ready else None
        assert (await suzuki.expect("read", lambda f: f["user_id"] == tanaka_id)
                )["seq"] == sent["seq"]
        reply = (await tanaka.send_message(group, "新版のノードから"))["message"]
        assert reply["seq"] == sent["seq"] + 1
        assert (await suzuki.expect("message", lambda f: f["message"]["id"] == reply["id"])
                )["message"]["body"] == "新版のノードから"

        # The old node is stopped; its person reconnects to the new one and catches up.
        await suzuki.close()
        # uvicorn re-raises the SIGTERM it handled once it has shut down.
        assert previous_node.stop() in (0, -signal.SIGTERM)
        again = await connect(new_node.http_url, SUZUKI)
        await again.send({"type": "resync", "channel_id": group, "after_seq": before["seq"]})
        page = await again.expect("resync.result")
        bodies = [m["body"] for m in page["messages"]]
        assert bodies == ["旧版のノードから", "新版のノードから"]
    finally:
        new_node.stop()


def next_release(tmp_path: Path, *, expand_only: bool) -> Path:
    """This release's tree plus one more migration, as the next release would ship it."""
    tree = tmp_path / "next"
    for name in RELEASE_PATHS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)
    from chat.store.migrations import script_heads
    head = script_heads("sqlite+aiosqlite://")[0]
    # Expanding: a nullable column this release never reads. Contracting: a column this
    # release reads, renamed.
    change = ("batch.add_column(sa.Column('next_note', sa.Text(), nullable=True))"
              if expand_only else
              "batch.alter_column('last_version', new_column_name='next_version')")
    (tree / "chat" / "migrations" / "versions" / "9999_next_release.py").write_text(f"""\
\"\"\"The next release's migration (made by a test).\"\"\"
import sqlalchemy as sa
from alembic import op

revision = '9999'
down_revision = '{head}'
branch_labels = None
depends_on = None
expand_only = {expand_only}


def upgrade() -> None:
    with op.batch_alter_table('channels') as batch:
        {change}


def downgrade() -> None:
    pass
""", encoding="utf-8")
    return tree


@pytest.mark.parametrize("expand_only", [True, False], ids=["expand", "contract"])
def test_this_release_serves_a_schema_the_next_one_only_expanded(
        tmp_path: Path, expand_only: bool) -> None:
    tree = next_release(tmp_path, expand_only=expand_only)
    env = {**os.environ, "PYTHONPATH": str(tree), "CHAT_VAR_DIR": str(tmp_path / "var"),
           "CHAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'var' / 'tsunagu.db'}"}

    def tsunagu(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chat.cli", *args], cwd=cwd,
                              env={**env, "PYTHONPATH": str(cwd)}, capture_output=True,
                              text=True, timeout=120, check=False)

    migrated = tsunagu(tree, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    # This release, on the next release's schema: its commands, and a node's /readyz
    # (what a load balancer asks before sending it staff).
    shown = tsunagu(REPO_ROOT, "policy", "show")
    node = start_server(base_settings(env["CHAT_DATABASE_URL"], tmp_path / "var"))
    try:
        ready = httpx.get(f"{node.http_url}/readyz", timeout=10)
    finally:
        node.stop()
    if expand_only:
        assert shown.returncode == 0, shown.stderr
        assert ready.status_code == 200, ready.text
    else:
        assert shown.returncode == 2
        assert "9999" in shown.stderr and "no longer serves this release" in shown.stderr
        assert ready.status_code == 503 and ready.json()["failed"] == ["schema"]
