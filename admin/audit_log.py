"""The audit log page (監査ログ): auditors filter and page through the log in the console.

The query, the role check and the audit of the view itself are
:func:`chat.actions.audit_log.read_audit_log`; this page turns the query string into
filters and the entries into a table with Japanese action labels beside the raw names.
"""

from __future__ import annotations

from starlette.responses import Response

from admin.i18n import STRINGS
from admin.views import AUDITORS, Console, page
from chat.actions.audit_log import read_audit_log
from chat.domain.audit_actions import AuditAction
from chat.domain.audit_log import OUTCOMES, parse_before, parse_log_filters
from chat.errors import BadRequest

FIELDS = ("action", "actor", "subject", "from", "to", "outcome")
PAGE = 50


@page(AUDITORS, what="read the audit log")
async def audit_log(c: Console) -> Response:
    params = c.request.query_params
    given = {name: params.get(name, "").strip()[:64] for name in FIELDS}
    try:
        filters = parse_log_filters(action=given["action"], actor=given["actor"],
                                    subject=given["subject"], since=given["from"],
                                    until=given["to"], outcome=given["outcome"])
        before = parse_before(params.get("before"))
    except ValueError as error:
        raise BadRequest(str(error)) from None
    result = await read_audit_log(c.ctx, actor=c.actor, filters=filters, before_id=before,
                                  limit=PAGE, remote=c.remote)

    def action_label(name: str) -> str | None:
        return c.t(f"audit_action.{name}") if f"audit_action.{name}" in STRINGS else None

    return c.render("audit_log.html", given=given, result=result, outcomes=OUTCOMES,
                    action_label=action_label,
                    action_names=[a.value for a in AuditAction])
