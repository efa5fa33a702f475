"""The constants the client shares with the server, served as the ES module
``/static/constants.js`` and built from the server's own enums on every start, so no
JavaScript file holds a hand copy (docs/client.md, "Constants").

Only what the page must agree on with the server goes here: the stamps it offers, the
websocket close codes it acts on, the message kinds its card views are keyed by, the
channel kinds it groups by, the states and actions of a notice card, the roles that may
take a memo, the call presence shown beside a name, the roles that declare a disaster
and those that send an urgent broadcast,
a field report's categories, severities and statuses, a roll call's answers, and how
each role is named (職員, 管理職, … : chat.domain.roles.ROLE_LABELS).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from chat import protocol
from chat.actions.memos import MEMO_TAKERS
from chat.domain.calls import CallPresence
from chat.domain.cards.memo import MemoAction
from chat.domain.cards.report import Category, ReportStatus, Severity
from chat.domain.kinds import MessageKind
from chat.domain.notices import NoticeState
from chat.domain.roles import BROADCASTERS, DISASTER_DECLARERS, ROLE_LABELS, ChannelKind
from chat.domain.rollcall import RollCallStatus
from chat.domain.stamps import STAMPS

MODULE_PATH = "/static/constants.js"


def _members(enum: type[StrEnum]) -> dict[str, str]:
    return {member.name: member.value for member in enum}


def client_constants() -> dict[str, Any]:
    """Name -> JSON value of every constant the client imports from ``constants.js``."""
    return {
        "STAMPS": list(STAMPS),
        "CLOSE_CODES": {
            "NORMAL": protocol.CLOSE_NORMAL,
            "POLICY": protocol.CLOSE_POLICY,
            "IDLE": protocol.CLOSE_IDLE,
            "RESYNC": protocol.CLOSE_RESYNC,
            "SESSION_ENDED": protocol.CLOSE_SESSION_ENDED,
            "OFF_HOURS": protocol.CLOSE_OFF_HOURS,
            "SERVICE_RESTART": protocol.CLOSE_SERVICE_RESTART,
        },
        "MESSAGE_KINDS": _members(MessageKind),
        "CHANNEL_KINDS": _members(ChannelKind),
        "NOTICE_STATES": _members(NoticeState),
        "MEMO_ACTIONS": [action.value for action in MemoAction],
        "MEMO_TAKERS": sorted(role.value for role in MEMO_TAKERS),
        "CALL_PRESENCE": _members(CallPresence),
        "DISASTER_DECLARERS": sorted(role.value for role in DISASTER_DECLARERS),
        "BROADCASTERS": sorted(role.value for role in BROADCASTERS),
        "REPORT_CATEGORIES": [category.value for category in Category],
        "REPORT_SEVERITIES": [int(severity) for severity in Severity],
        "REPORT_STATUSES": [status.value for status in ReportStatus],
        "ROLLCALL_STATUSES": _members(RollCallStatus),
        "ROLE_LABELS": {role.value: {"ja": ja, "en": en} for role, (ja, en) in ROLE_LABELS.items()},
    }


def constants_module() -> str:
    """``client_constants()`` as an ES module: one frozen ``export const`` per name."""
    lines = ["// Built by chat/web/client_constants.py from the server's enums. Not a file:",
             "// edit the server's enum, never a copy here."]
    for name, value in client_constants().items():
        lines.append(f"export const {name} = Object.freeze("
                     f"{json.dumps(value, ensure_ascii=False)});")
    return "\n".join(lines) + "\n"
