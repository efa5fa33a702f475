"""The development-only session path, for tests and the local demo.

Refused unless ``CHAT_DEV_SESSIONS`` is on *and* the node is bound to loopback *and* the
request itself comes from loopback: it must never exist on a production node.
"""

from __future__ import annotations

from chat.auth.sessions import mint_session
from chat.config import is_loopback_host
from chat.context import AppContext
from chat.errors import DevSessionsDisabled, UserNotFound
from chat.store.uow import unit_of_work

DEV_SESSION_KIND = "dev"


def ensure_dev_sessions_allowed(ctx: AppContext, client_host: str | None) -> None:
    if not ctx.settings.dev_sessions_allowed:
        raise DevSessionsDisabled()
    if client_host is None or not is_loopback_host(client_host):
        raise DevSessionsDisabled("Development sessions are only served to loopback clients")


async def mint_dev_session(ctx: AppContext, *, staff_number: str,
                           client_host: str | None) -> tuple[str, int]:
    """Return ``(token, user_id)`` for the active user with ``staff_number``."""
    ensure_dev_sessions_allowed(ctx, client_host)
    async with unit_of_work(ctx.db, write=False) as uow:
        user = await uow.users.by_staff_number(staff_number)
        if user is None or not user.is_active:
            raise UserNotFound()
        user_id = user.id
    return await mint_session(ctx, user_id=user_id, kind=DEV_SESSION_KIND), user_id
