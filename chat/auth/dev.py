"""The development-only session path, for tests and the local demo.

Refused unless ``CHAT_DEV_SESSIONS`` is on *and* the node is bound to loopback *and* the
request itself comes from loopback: it must never exist on a production node. With a
device key proof the demo session is bound to that key exactly like a passkey sign-in
(the demo then exercises the real request path); without one it is an unbound token for
protocol tests.
"""

from __future__ import annotations

from chat.audit.record import audit_within
from chat.auth.sessions import DEV_SESSION_KIND, new_session
from chat.config import is_loopback_host
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.errors import DevSessionsDisabled, UserNotFound
from chat.store.uow import TxMode, unit_of_work


def ensure_dev_sessions_allowed(ctx: AppContext, client_host: str | None) -> None:
    if not ctx.settings.dev_sessions_allowed:
        raise DevSessionsDisabled()
    if client_host is None or not is_loopback_host(client_host):
        raise DevSessionsDisabled("Development sessions are only served to loopback clients")


async def mint_dev_session(ctx: AppContext, *, staff_number: str, client_host: str | None,
                           jkt: str | None = None) -> tuple[str, int]:
    """Return ``(token, user_id)`` for the active user with ``staff_number``."""
    ensure_dev_sessions_allowed(ctx, client_host)
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        user = await uow.users.by_staff_number(staff_number)
        if user is None or not user.is_active:
            raise UserNotFound()
        token, session = new_session(ctx, uow, user_id=user.id, kind=DEV_SESSION_KIND,
                                     jkt=jkt)
        await uow.flush()
        audit_within(ctx, uow, AuditAction.SESSION_SIGNED_IN, subject_user_id=user.id,
                     session_id=session.id, remote=client_host, method="dev",
                     bound=jkt is not None)
        return token, user.id
