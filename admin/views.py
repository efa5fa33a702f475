"""How every console page is served: the shell, proofs, roles, CSRF, rendering, errors.

A console URL (``/admin/...``) answers two kinds of request:

- a **navigation** (a GET with no ``DPoP`` header and no ``Authorization``: a typed URL,
  a reload, a bookmark) gets the *shell*, a page with no data that loads
  ``console.js``; the script then asks for the same URL again, with a proof;
- a **proven request** (``DPoP`` header, the session cookie, as ``console.js`` sends
  them; or ``Authorization: DPoP`` from a script) is authenticated exactly like the JSON
  API (401 without a valid proof), role-checked with :func:`chat.web.auth.require_role`
  (403, audited), and, for a POST, CSRF-checked; it gets the page's HTML, which the
  script swaps into the shell.

Errors are HTML too (a Japanese page with the stable code), with the same status and
``WWW-Authenticate`` challenge the JSON API would give, so ``console.js`` can sign again
on ``use_dpop_nonce`` and offer sign-in on 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from admin.i18n import LANG_COOKIE, Translator, pick_language, translator
from chat.audit.record import audit
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.roles import DISASTER_DECLARERS, PEOPLE_ADMINS, RECORDS_KEEPERS, role_label
from chat.errors import BadRequest, ChatError, CsrfFailed, RoleRequired
from chat.web.auth import app_context, client_host, require_role
from chat.web.errors import challenge_headers

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
JST = ZoneInfo("Asia/Tokyo")
CSRF_FIELD = "csrf_token"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# Tells console.js which URL the answer to a form stands for (history.pushState).
LOCATION_HEADER = "X-Console-Location"

ADMINS = PEOPLE_ADMINS
AUDITORS = RECORDS_KEEPERS
EITHER = PEOPLE_ADMINS | RECORDS_KEEPERS
DISASTER_STAFF = DISASTER_DECLARERS     # 災害モード: crisis management and admins


def _jst(value: object, *, seconds: bool = False) -> str:
    """A time for people: Japan time, ``2026-11-26 09:05``; "—" for none."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) \
        if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return str(value)
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S" if seconds else
                                           "%Y-%m-%d %H:%M")


environment = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          trim_blocks=True, lstrip_blocks=True)
environment.filters["jst"] = _jst
# Jinja's tojson escapes every non-ASCII character; auditors read Japanese filters.
environment.filters["json_text"] = lambda value, indent=None: json.dumps(
    value, ensure_ascii=False, indent=indent)


# --- CSRF ------------------------------------------------------------------------------------

def csrf_token(ctx: AppContext, session_id: int) -> str:
    """The session's form token: an HMAC of the session id under the instance's session
    key. Stateless (any node can check it) and dies with the session."""
    return hmac.new(ctx.secrets.session_key, b"tsunagu/admin-csrf\x00" + str(session_id).encode(),
                    hashlib.sha256).hexdigest()


async def check_csrf(request: Request, actor: Principal, form: FormData) -> None:
    """Refuse (403 ``csrf_failed``, audited) a form without this session's token.

    Defense in depth: a cross-site form cannot carry the DPoP proof every request needs,
    and the cookie is SameSite=Strict, so neither alone lets another site post here. The
    token still stops a same-site page that is not the console (another app under the
    same site, a future relaxation of the cookie) from replaying a proven request's
    effect, and keeps the console safe if either of those layers is ever weakened."""
    ctx = app_context(request)
    sent = form.get(CSRF_FIELD)
    if isinstance(sent, str) and hmac.compare_digest(sent, csrf_token(ctx, actor.session_id)):
        return
    await audit(ctx, AuditAction.ACCESS_REFUSED, outcome="refused", actor_user_id=actor.user_id,
                session_id=actor.session_id, device_id=actor.device_id,
                remote=client_host(request), role=actor.role, reason="csrf_failed",
                method=request.method, path=request.url.path)
    raise CsrfFailed()


# --- one console request ---------------------------------------------------------------------

@dataclass
class Console:
    """What a page handler gets: the request, the signed-in actor, the form (POST), the
    language and its translator."""

    request: Request
    actor: Principal
    lang: str
    t: Translator
    form: FormData | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def ctx(self) -> AppContext:
        return app_context(self.request)

    @property
    def by(self) -> str:
        """How the actor is named in the records (as the JSON API names them)."""
        return f"{self.actor.name} (user {self.actor.user_id})"[:100]

    @property
    def remote(self) -> str | None:
        return client_host(self.request)

    def field(self, name: str, *, limit: int = 200, required: bool = False) -> str:
        """A text field of the form, stripped; BadRequest when too long or required and
        empty."""
        value = self.form.get(name) if self.form is not None else None
        text = value.strip() if isinstance(value, str) else ""
        if len(text) > limit:
            raise BadRequest(f"{name} may have at most {limit} characters")
        if required and not text:
            raise BadRequest(f"{name} is required")
        return text

    async def upload_text(self, file_field: str, text_field: str) -> str:
        """A CSV given as an uploaded file or pasted text, decoded as UTF-8 (a BOM is
        fine; Excel's Shift_JIS is refused with a clear message)."""
        upload = self.form.get(file_field) if self.form is not None else None
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise BadRequest(f"the file exceeds {MAX_UPLOAD_BYTES} bytes")
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("the file is not UTF-8 (save it as CSV UTF-8)") from None
        return self.field(text_field, limit=MAX_UPLOAD_BYTES)

    def render(self, template: str, *, status: int = 200, location: str | None = None,
               **values: Any) -> HTMLResponse:
        """The page's HTML (a fragment for the shell). ``location`` is the URL it stands
        for when it answers a form (console.js pushes it into the history)."""
        html = environment.get_template(template).render(
            t=self.t, lang=self.lang, actor=self.actor,
            role_label=self.t(f"role.{self.actor.role}"),
            is_admin=self.actor.role in ADMINS, is_auditor=self.actor.role in AUDITORS,
            is_disaster_staff=self.actor.role in DISASTER_STAFF,
            csrf=csrf_token(self.ctx, self.actor.session_id), path=self.request.url.path,
            notices=self.notices, query=urlencode, **values)
        headers = {LOCATION_HEADER: location} if location else None
        return HTMLResponse(html, status_code=status, headers=headers)


Handler = Callable[[Console], Awaitable[Response]]


def is_navigation(request: Request) -> bool:
    """A GET that proves nothing: the browser loading a URL. It gets the shell."""
    return (request.method == "GET" and "dpop" not in request.headers
            and "authorization" not in request.headers)


def language_of(request: Request) -> str:
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def shell(request: Request) -> HTMLResponse:
    lang = language_of(request)
    html = environment.get_template("shell.html").render(t=translator(lang), lang=lang)
    response = HTMLResponse(html)
    _remember_language(request, response)
    return response


def _remember_language(request: Request, response: Response) -> None:
    chosen = request.query_params.get("lang")
    if chosen in ("ja", "en"):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, path="/",
                            samesite="strict",
                            secure=app_context(request).settings.secure_cookies)


def error_page(request: Request, error: ChatError) -> HTMLResponse:
    """The error as a page, in the reader's language, with the JSON API's status, code
    and challenge."""
    lang = language_of(request)
    t = translator(lang)
    if error.code in {"role_required", "csrf_failed", "not_found", "bad_request",
                      "unauthenticated"}:
        summary = t(f"error.{error.code}")
    elif error.http_status == 404:
        summary = t("error.not_found")
    elif error.http_status == 400:
        summary = t("error.bad_request")
    else:
        summary = t("error.other")
    detail = None
    if isinstance(error, RoleRequired) and error.role:
        # Said in the reader's language from the roles' one table, not the English message.
        detail = t("error.role_detail", role=role_label(error.role, lang),
                   allowed="・".join(role_label(r, lang) for r in error.allowed) or "—")
    html = environment.get_template("error.html").render(
        t=t, lang=lang, summary=summary, detail=detail, code=error.code,
        message=error.message)
    return HTMLResponse(html, status_code=error.http_status, headers=challenge_headers(error))


def page(allowed: Collection[str], *, what: str) -> Callable[[Handler], Callable[
        [Request], Awaitable[Response]]]:
    """Make ``handler`` a console endpoint open to the roles in ``allowed``; ``what``
    names the duty in refusals (``access.refused``)."""
    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if is_navigation(request):
                return shell(request)
            lang = language_of(request)
            try:
                actor = await require_role(request, allowed, what=what)
                form = None
                if request.method == "POST":
                    form = await request.form(max_files=2, max_fields=200,
                                              max_part_size=MAX_UPLOAD_BYTES)
                try:
                    if form is not None:
                        await check_csrf(request, actor, form)
                    response = await handler(Console(request=request, actor=actor,
                                                     lang=lang, t=translator(lang),
                                                     form=form))
                finally:
                    if form is not None:
                        await form.close()
            except ChatError as error:
                response = error_page(request, error)
            _remember_language(request, response)
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate
