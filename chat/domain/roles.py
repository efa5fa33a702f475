"""Roles and what each may do with channels."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    STAFF = "staff"
    MANAGER = "manager"
    OPERATOR = "operator"
    CRISIS = "crisis"       # 危機管理: declares disasters and drills, runs the HQ
    AUDITOR = "auditor"
    ADMIN = "admin"


# How each role is named to people, (Japanese, English): the one table the phone client
# (constants.js ROLE_LABELS: the demo picker, 設定), the console (admin/i18n.py role.*)
# and the off-hours messages (chat/domain/hours.py) all read, so no screen shows ``staff``.
ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.STAFF: ("職員", "Staff"),
    Role.MANAGER: ("管理職", "Manager"),
    Role.OPERATOR: ("オペレーター", "Operator"),
    Role.CRISIS: ("危機管理担当", "Crisis management"),
    Role.AUDITOR: ("監査担当者", "Auditor"),
    Role.ADMIN: ("管理者", "Administrator"),
}


def role_label(role: str, lang: str = "ja") -> str:
    """The role's name in ``lang`` (``ja`` or ``en``); an unknown role as it is."""
    try:
        pair = ROLE_LABELS[Role(role)]
    except ValueError:
        return role
    return pair[1] if lang == "en" else pair[0]


class ChannelKind(StrEnum):
    DEPARTMENT = "department"
    GROUP = "group"
    DIRECT = "direct"
    ANNOUNCEMENT = "announcement"


# Whoever can see much must be seen: a message these roles read in a channel they are not
# a member of, which only the role allows, is recorded in the audit log (docs/audit.md,
# Privileged reads; chat.actions.message_reads.audit_privileged_read).
PRIVILEGED_READERS = frozenset({Role.ADMIN, Role.AUDITOR})

# Announcements (全庁通知) go out from people who speak for the organisation.
ANNOUNCERS = frozenset({Role.MANAGER, Role.ADMIN})


# Who declares and ends a disaster or a drill (災害対策本部の設置・廃止).
DISASTER_DECLARERS = frozenset({Role.CRISIS, Role.ADMIN})

# Who sends an urgent broadcast (緊急放送, what the building's PA did): crisis management,
# admins, and managers (a floor's fire warden is usually one: 防火管理者).
BROADCASTERS = frozenset({Role.CRISIS, Role.MANAGER, Role.ADMIN})


# Separation of duties. Admins run people, devices and policy; auditors read, export and
# hold records. Neither can change the audit log (nothing can, short of the database,
# and `tsunagu audit verify` catches that).
PEOPLE_ADMINS = frozenset({Role.ADMIN})       # devices, accounts, retention periods
RECORDS_KEEPERS = frozenset({Role.AUDITOR})   # legal holds (and search and export)


def may_post(role: str, channel_kind: str) -> bool:
    """Whether a member with ``role`` may post in a channel of ``channel_kind``."""
    if channel_kind == ChannelKind.ANNOUNCEMENT:
        return role in ANNOUNCERS
    return True


def parse_role(value: str) -> Role:
    """``Role`` from its name, case-insensitive; ValueError names the allowed values."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r} (allowed: {allowed})") from None
