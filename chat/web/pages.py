"""Pages served by the app: the minimal chat page (the full client is its own module)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import web_client

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


async def service_worker(request: Request) -> Response:
    """Served from the root so its scope is the whole app; never cached stale."""
    return FileResponse(CLIENT_DIR / "static" / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


routes = [
    Route("/", index),
    Route("/manifest.webmanifest", manifest),
    Route("/sw.js", service_worker),
    Route("/enroll", enroll),
    Mount("/static", app=StaticFiles(directory=str(CLIENT_DIR / "static")), name="static"),
]
