"""Pages served by the app: the minimal chat page (the full client is its own module)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import web_client
from chat.web.client_constants import MODULE_PATH, constants_module

CLIENT_DIR = Path(web_client.__file__).resolve().parent
templates = Jinja2Templates(directory=str(CLIENT_DIR / "templates"))


async def index(request: Request) -> Response:
    ctx = request.state.ctx
    return templates.TemplateResponse(request, "index.html", {
        "demo": ctx.settings.dev_sessions_allowed,
    })


async def enroll(request: Request) -> Response:
    """The enrollment page; the one-time code stays in the URL fragment (never logged)."""
    ctx = request.state.ctx
    return templates.TemplateResponse(request, "enroll.html", {
        "demo": ctx.settings.dev_sessions_allowed,
    })


# The web app manifest: what makes the client installable (添加到ホーム画面).
MANIFEST = {
    "name": "つなぐ Tsunagu", "short_name": "つなぐ", "lang": "ja", "dir": "ltr",
    "description": "市役所の業務チャット", "start_url": "/", "scope": "/", "display": "standalone",
    "orientation": "portrait", "background_color": "#f6f8fa", "theme_color": "#0b6e4f",
    "icons": [
        {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png",
         "purpose": "maskable"},
        {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
    ],
}


async def manifest(request: Request) -> Response:
    return JSONResponse(MANIFEST, media_type="application/manifest+json")


#: Files the page never needs from the shell cache: the worker itself, the enrollment page.
_NOT_IN_SHELL = frozenset({"sw.js", "enroll.js"})
_SHELL_SUFFIXES = frozenset({".js", ".css", ".svg", ".png"})


def shell_files(static: Path) -> list[str]:
    """Every file of the app shell under ``static`` (the page, its modules, styles and
    icons), plus the constants module, which the server builds."""
    found = sorted(f"/static/{path.relative_to(static).as_posix()}"
                   for path in static.rglob("*")
                   if path.is_file() and path.suffix in _SHELL_SUFFIXES
                   and path.name not in _NOT_IN_SHELL)
    return ["/", *found, MODULE_PATH]


def service_worker_source(static: Path) -> str:
    """``sw.js`` with its shell list and cache name written in front: the list is the
    static folder as deployed, so a new module (a card view, a vendored library) needs no
    hand-kept list; the cache name is a digest of those files, so a deploy that changes
    any of them replaces the old cache on every phone."""
    files = shell_files(static)
    digest = hashlib.sha256()
    for name in files[1:-1]:
        digest.update(name.encode())
        digest.update((static / name.removeprefix("/static/")).read_bytes())
    head = (f"const SHELL = {json.dumps('tsunagu-shell-' + digest.hexdigest()[:16])};\n"
            f"const SHELL_FILES = {json.dumps(files)};\n")
    return head + (static / "sw.js").read_text(encoding="utf-8")


SERVICE_WORKER = service_worker_source(CLIENT_DIR / "static")


async def service_worker(request: Request) -> Response:
    """Served from the root so its scope is the whole app; never cached stale."""
    return Response(SERVICE_WORKER, media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


async def favicon(request: Request) -> Response:
    """Browsers, proxies and monitoring tools ask for ``/favicon.ico`` whatever the page
    links; a PNG there is understood by all of them (a 404 was console noise)."""
    return FileResponse(CLIENT_DIR / "static" / "icon-192.png", media_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})


# Built once per process: the enums it reads do not change while the server runs.
CONSTANTS_MODULE = constants_module()


async def client_constants(request: Request) -> Response:
    """The server's constants as the ES module the client imports (``constants.js``);
    revalidated on every load so a deploy that adds a kind reaches open phones."""
    return Response(CONSTANTS_MODULE, media_type="text/javascript",
                    headers={"Cache-Control": "no-cache"})


routes = [
    Route("/", index),
    Route("/manifest.webmanifest", manifest),
    Route("/sw.js", service_worker),
    Route("/favicon.ico", favicon),
    Route("/enroll", enroll),
    # Before the static mount, which would otherwise answer 404 for this path.
    Route(MODULE_PATH, client_constants),
    Mount("/static", app=StaticFiles(directory=str(CLIENT_DIR / "static")), name="static"),
]
