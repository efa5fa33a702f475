"""Pages served by the app: the minimal chat page (the full client is its own module)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
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


routes = [
    Route("/", index),
    Route("/enroll", enroll),
    Mount("/static", app=StaticFiles(directory=str(CLIENT_DIR / "static")), name="static"),
]
