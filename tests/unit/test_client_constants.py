"""The client's constants come from the server (``/static/constants.js``, built by
chat/web/client_constants.py), its card views cover every message kind, its store has a
reducer for every frame the server sends, and no client module keeps a hand copy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from chat import protocol
from chat.actions.memos import MEMO_TAKERS
from chat.domain.calls import CallPresence
from chat.domain.cards.memo import MemoAction
from chat.domain.kinds import MessageKind
from chat.domain.notices import NoticeState
from chat.domain.roles import ChannelKind
from chat.domain.stamps import STAMPS
from chat.frames import SERVER_FRAMES
from chat.web import pages
from chat.web.client_constants import MODULE_PATH, client_constants
from chat.web.pages import service_worker_source

STATIC = Path(pages.CLIENT_DIR) / "static"
EXPORT = re.compile(r"^export const (\w+) = Object\.freeze\((.*)\);$")


async def served_constants() -> tuple[dict[str, Any], httpx.Response]:
    transport = httpx.ASGITransport(app=Starlette(routes=pages.routes))
    async with httpx.AsyncClient(transport=transport, base_url="http://tsunagu.test") as client:
        response = await client.get(MODULE_PATH)
    assert response.status_code == 200
    exported: dict[str, Any] = {}
    for line in response.text.splitlines():
        if line.startswith("//"):
            continue
        match = EXPORT.match(line)
        assert match, f"not an exported constant: {line!r}"
        exported[match[1]] = json.loads(match[2])
    return exported, response


async def test_constants_module_serves_the_servers_own_values() -> None:
    exported, response = await served_constants()
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert exported == client_constants()
    assert exported["STAMPS"] == list(STAMPS)
    assert exported["MESSAGE_KINDS"] == {k.name: k.value for k in MessageKind}
    assert exported["CHANNEL_KINDS"] == {k.name: k.value for k in ChannelKind}
    assert exported["NOTICE_STATES"] == {s.name: s.value for s in NoticeState}
    assert exported["MEMO_ACTIONS"] == [a.value for a in MemoAction]
    assert set(exported["MEMO_TAKERS"]) == set(MEMO_TAKERS)
    assert exported["CALL_PRESENCE"] == {p.name: p.value for p in CallPresence}
    codes = exported["CLOSE_CODES"]
    assert (codes["POLICY"], codes["SESSION_ENDED"], codes["OFF_HOURS"]) == (
        protocol.CLOSE_POLICY, protocol.CLOSE_SESSION_ENDED, protocol.CLOSE_OFF_HOURS)


def client_modules() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*.js"))


def test_constants_js_is_not_a_file_that_could_go_stale() -> None:
    assert not (STATIC / "constants.js").exists()


def test_every_message_kind_has_a_card_view_in_the_renderer_map() -> None:
    index = (STATIC / "cards" / "index.js").read_text(encoding="utf-8")
    keyed = re.findall(r"\[MESSAGE_KINDS\.(\w+)\]:\s*(\w+)", index)
    assert {name for name, _ in keyed} == {kind.name for kind in MessageKind}
    for _, view in keyed:
        module = re.search(rf'import \* as {view} from "\./(\w+)\.js"', index)
        assert module, f"{view} is not imported as a module"
        source = (STATIC / "cards" / f"{module[1]}.js").read_text(encoding="utf-8")
        assert re.search(r"^export function fill\(li, m, ui\)", source, re.M), module[1]


def test_no_client_module_holds_a_hand_copy_of_a_server_constant() -> None:
    quoted = [json.dumps(value, ensure_ascii=False) for value in
              [*STAMPS[6:], MessageKind.MISSED_CALL.value,
               MemoAction.WILL_CALL_AGAIN.value, ChannelKind.ANNOUNCEMENT.value]]
    codes = [str(c) for c in (protocol.CLOSE_SESSION_ENDED, protocol.CLOSE_OFF_HOURS,
                              protocol.CLOSE_POLICY)]
    for path in client_modules():
        code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith(("//", "*", "/*")))
        for literal in quoted:
            assert literal not in code, f"{path.name} copies {literal}"
        for number in codes:
            assert not re.search(rf"\b{number}\b", code), f"{path.name} copies close code {number}"


def test_no_client_module_exceeds_400_lines() -> None:
    for path in client_modules():
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 400, f"{path.relative_to(STATIC)} has {lines} lines"


def test_the_service_worker_keeps_every_module_of_the_chat_page() -> None:
    """The shell list is the static folder as served: a new card view or vendored library
    is cached for offline use without anyone listing it."""
    shell = service_worker_source(STATIC)
    listed = set(json.loads(re.search(r"const SHELL_FILES = (\[.*\]);", shell).group(1)))
    page_modules = {f"/static/{p.relative_to(STATIC).as_posix()}" for p in client_modules()
                    if p.name not in {"sw.js", "enroll.js"}}
    assert page_modules | {MODULE_PATH, "/", "/static/style.css"} <= listed
    assert "/static/sw.js" not in listed and "/static/enroll.js" not in listed
    assert shell.index("const SHELL_FILES") < shell.index('addEventListener("install"')


def test_the_shell_cache_is_renamed_when_a_shell_file_changes(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "cards").mkdir(parents=True)
    (static / "sw.js").write_text("self.addEventListener('install', () => {});\n")
    (static / "chat.js").write_text("export const a = 1;\n")
    before = service_worker_source(static)
    (static / "cards" / "new_kind.js").write_text("export function fill() {}\n")
    after = service_worker_source(static)
    assert '"/static/cards/new_kind.js"' in after and "new_kind" not in before
    name = re.compile(r'const SHELL = "(tsunagu-shell-[0-9a-f]+)"')
    assert name.search(before).group(1) != name.search(after).group(1)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node (make system-deps)")
def test_the_store_has_a_reducer_for_every_frame_the_server_sends() -> None:
    script = ("import { reducers } from " + json.dumps((STATIC / "store.js").as_uri())
              + "; console.log(JSON.stringify(Object.keys(reducers)));")
    out = subprocess.run(["node", "--input-type=module", "-e", script],
                         capture_output=True, text=True, check=True, timeout=30)
    # hello is answered by the connection (connection.js) before the store sees frames.
    assert set(json.loads(out.stdout)) == set(SERVER_FRAMES) - {"hello"}


def test_the_phone_reads_a_position_only_where_a_person_taps_to_attach_it() -> None:
    """Privacy by design (docs/disaster.md): no module watches the position, and the only
    reads are the three 「位置を添付」 / 「位置情報を付ける」 taps; the settings screen says so."""
    ours = [p for p in client_modules() if "vendor" not in p.parts]  # Leaflet's locate() unused
    readers = {p.relative_to(STATIC).as_posix() for p in ours
               if "getCurrentPosition" in p.read_text(encoding="utf-8")}
    assert readers == {"views/report_form.js", "views/rollcall.js", "views/photos.js"}
    assert not any("watchPosition" in p.read_text(encoding="utf-8") for p in ours)
    assert not any(".locate(" in p.read_text(encoding="utf-8") for p in ours)
    page = (STATIC.parent / "templates" / "index.html").read_text(encoding="utf-8")
    assert 'data-i18n="privacy.position"' in page
    assert "バックグラウンドで位置を集めることはありません" in page
    for language in ("ja", "en"):
        strings = (STATIC / "i18n" / f"{language}.js").read_text(encoding="utf-8")
        assert '"privacy.position"' in strings and '"privacy.audit"' in strings
