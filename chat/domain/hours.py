"""The off-hours policy: when the office is open, and who may connect when it is not.

Tsunagu is a work tool, and staff should not be drawn into work outside their working hours.
So outside the configured hours only managers (and the roles an admin allows) may connect;
while disaster mode (災害モード) is declared everyone may, because then the whole city hall is
at work. City halls close on weekends, on holidays and over 年末年始: local holidays are set by
ordinance, and 地方自治法 第4条の2 第2項 lists "年末又は年始における日で条例で定めるもの",
which city ordinances fix as 29 December to 3 January. Statutory holidays are configured as
dates rather than computed, since substitute and one-off holidays are decided year by year.

Pure: no I/O and no clock. The caller passes ``now`` as an aware datetime; every rule is
applied in the city's local time (Asia/Tokyo unless configured otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from chat.domain.roles import Role, role_label

Interval = tuple[time, time]
"""An opening interval in local time: start inclusive, end exclusive (start == end is empty)."""

AccessCode = Literal["ok", "off_hours", "holiday"]
_Closure = Literal["year_end", "holiday", "weekly"]

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "Asia/Tokyo"
_OFFICE_DAY: tuple[Interval, ...] = ((time(8, 30), time(17, 15)),)
DEFAULT_WEEK: tuple[tuple[Interval, ...], ...] = (_OFFICE_DAY,) * 5 + ((), ())
"""Monday first: 8:30–17:15 on weekdays, closed on Saturday and Sunday."""

DEFAULT_OFF_HOURS_ROLES: frozenset[str] = frozenset({Role.MANAGER})
NEXT_OPENING_SEARCH_DAYS = 31

_CONFIG_FIELDS = ("timezone", "weekdays", "holidays", "year_end_closure")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_JA_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_WEEKDAYS_PLURAL = (
    "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays",
)
_EN_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)
# English plurals as the messages name the people who may connect off-hours (the
# Japanese names are the one table's, chat.domain.roles.ROLE_LABELS).
_EN_PLURALS: dict[str, str] = {
    Role.STAFF: "staff", Role.MANAGER: "managers", Role.OPERATOR: "operators",
    Role.CRISIS: "crisis management staff", Role.AUDITOR: "auditors",
    Role.ADMIN: "administrators",
}


@dataclass(frozen=True)
class WorkingHours:
    """When the office is open, in the city's local time.

    ``weekdays`` holds seven tuples of intervals, Monday first; a day may have several
    intervals (a lunch closure) or none (closed). The office is also closed all day on each
    date in ``holidays`` and, with ``year_end_closure``, from 29 December to 3 January
    inclusive. Construction raises ValueError for a week that is not seven days long, an
    interval that ends before it starts, a holiday that is not a plain date, or an unknown
    time zone.
    """

    weekdays: tuple[tuple[Interval, ...], ...] = DEFAULT_WEEK
    timezone: str = DEFAULT_TIMEZONE
    holidays: frozenset[date] = frozenset()
    year_end_closure: bool = True

    def __post_init__(self) -> None:
        if len(self.weekdays) != len(WEEKDAY_KEYS):
            raise ValueError(f"weekdays: expected 7 days, Monday first, got {len(self.weekdays)}")
        for key, intervals in zip(WEEKDAY_KEYS, self.weekdays, strict=True):
            for index, (start, end) in enumerate(intervals):
                if end < start:
                    raise ValueError(f"weekdays.{key}[{index}]: end {_en_time(end)} is before "
                                     f"start {_en_time(start)}")
        for holiday in self.holidays:
            # A datetime is a date too, but never equal to one: it would silently never match.
            if isinstance(holiday, datetime) or not isinstance(holiday, date):
                raise ValueError(f"holidays: {holiday!r} is not a date")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> WorkingHours:
        """Working hours from JSON-like configuration; every field is optional.

        ``{"timezone": "Asia/Tokyo", "weekdays": {"mon": [["08:30", "17:15"]], ...},
        "holidays": ["2026-11-03"], "year_end_closure": true}``. When ``weekdays`` is given
        it describes the whole week: a day it leaves out is closed. Times are ``H:MM`` or
        ``HH:MM`` (00:00–23:59), dates ``YYYY-MM-DD``. Raises ValueError whose message starts
        with the offending field, e.g. ``weekdays.mon[0]``.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"working hours: expected a mapping, got {type(data).__name__}")
        unknown = sorted(str(key) for key in data if key not in _CONFIG_FIELDS)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field (expected {', '.join(_CONFIG_FIELDS)})")

        timezone = data.get("timezone", DEFAULT_TIMEZONE)
        if not isinstance(timezone, str):
            raise ValueError(f"timezone: expected a time zone name, got {timezone!r}")

        weekdays = DEFAULT_WEEK
        if "weekdays" in data:
            weekdays = _parse_week(data["weekdays"])

        holidays: frozenset[date] = frozenset()
        if "holidays" in data:
            holidays = _parse_holidays(data["holidays"])

        year_end_closure = data.get("year_end_closure", True)
        if not isinstance(year_end_closure, bool):
            raise ValueError(f"year_end_closure: expected true or false, got {year_end_closure!r}")

        return cls(weekdays=weekdays, timezone=timezone, holidays=holidays,
                   year_end_closure=year_end_closure)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_local(self, now: datetime) -> datetime:
        """``now`` in the city's time zone; ValueError if ``now`` is naive."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be an aware datetime")
        return now.astimezone(self.zone)

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The non-empty opening intervals on a local date, by start time; () if closed."""
        if _closure(self, day) is not None:
            return ()
        return _open_intervals(self.weekdays[day.weekday()])

    def is_closed_day(self, day: date) -> bool:
        """Whether the office stays closed all day on a local date."""
        return _closure(self, day) is not None

    def is_open(self, now: datetime) -> bool:
        """Whether the office is open at ``now`` (aware), judged in local time."""
        local = self.to_local(now)
        moment = local.time()
        return any(start <= moment < end for start, end in self.intervals_on(local.date()))


@dataclass(frozen=True)
class AccessDecision:
    """Whether a connection is allowed, a stable ``code``, and why, for the user."""

    allowed: bool
    code: AccessCode
    message_ja: str
    message_en: str


def may_connect(
    *,
    role: str,
    now: datetime,
    hours: WorkingHours,
    disaster_mode: bool,
    off_hours_roles: frozenset[str] = DEFAULT_OFF_HOURS_ROLES,
) -> AccessDecision:
    """Whether someone with ``role`` may connect at ``now`` (aware).

    Allowed during working hours; at any time while disaster mode (災害モード) is on, for
    everyone; and outside working hours for the roles in ``off_hours_roles``. Otherwise
    refused with code ``holiday`` on a day the office is closed (a configured holiday, a
    closed weekday such as the weekend, or 年末年始) or ``off_hours`` outside the intervals of
    an open day. Refusals explain why in Japanese and English, name the day's hours when the
    office opens that day, and say when the service is next available. Allowed decisions
    have code ``ok``. Raises ValueError if ``now`` is naive.
    """
    if hours.is_open(now):
        return AccessDecision(True, "ok", "勤務時間内のため利用できます。", "Within working hours.")
    if disaster_mode:
        return AccessDecision(True, "ok", "災害モード中のため、どなたでも利用できます。",
                              "Disaster mode is on: everyone may connect.")
    if role in off_hours_roles:
        label_ja, label_en = _role_label(role)
        return AccessDecision(True, "ok", f"勤務時間外ですが、{label_ja}の方は利用できます。",
                              f"Outside working hours, but {label_en} may connect.")

    local = hours.to_local(now)
    today = local.date()
    closure = _closure(hours, today)
    code: AccessCode
    if closure is None:
        code = "off_hours"
        day_ja, day_en = _day_label(hours, today)
        intervals = hours.intervals_on(today)
        ranges_ja = "、".join(f"{_ja_time(s)}〜{_ja_time(e)}" for s, e in intervals)
        ranges_en = ", ".join(f"{_en_time(s)}–{_en_time(e)}" for s, e in intervals)
        reason_ja = f"勤務時間外（{day_ja} {ranges_ja}）のため利用できません。"
        reason_en = f"You cannot connect outside working hours ({day_en} {ranges_en})."
    else:
        code = "holiday"
        reason_ja, reason_en = _closure_reason(closure, today)

    exceptions_ja, exceptions_en = _exceptions(off_hours_roles)
    message_ja = reason_ja + exceptions_ja
    message_en = f"{reason_en} {exceptions_en}"
    opening = next_opening(hours, now)
    if opening is not None:
        message_ja += f"次の利用可能時刻: {_ja_moment(opening)}"
        message_en += f" Available again: {_en_moment(opening)}"
    return AccessDecision(False, code, message_ja, message_en)


def next_opening(hours: WorkingHours, now: datetime) -> datetime | None:
    """The earliest moment at or after ``now`` (aware) when the office is open, in local time.

    Returns ``now`` itself (converted to local time) while the office is open. Looks at the
    local dates from today through 31 days later and returns None if it opens on none of them.
    """
    local = hours.to_local(now)
    if hours.is_open(now):
        return local
    for offset in range(NEXT_OPENING_SEARCH_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        starts = [start for start, _ in hours.intervals_on(day)
                  if offset > 0 or start >= local.time()]
        if starts:
            return datetime.combine(day, min(starts), tzinfo=hours.zone)
    return None


def _closure(hours: WorkingHours, day: date) -> _Closure | None:
    # 年末年始 first: it is the most specific reason for a date that is also a holiday.
    if hours.year_end_closure and not (1, 3) < (day.month, day.day) < (12, 29):
        return "year_end"
    if day in hours.holidays:
        return "holiday"
    if not _open_intervals(hours.weekdays[day.weekday()]):
        return "weekly"
    return None


def _open_intervals(intervals: tuple[Interval, ...]) -> tuple[Interval, ...]:
    return tuple(sorted((start, end) for start, end in intervals if start < end))


def _parse_week(value: object) -> tuple[tuple[Interval, ...], ...]:
    if not isinstance(value, Mapping):
        raise ValueError(f"weekdays: expected a mapping of day to intervals, got {value!r}")
    week: list[tuple[Interval, ...]] = [() for _ in WEEKDAY_KEYS]
    for key, intervals in value.items():
        if key not in WEEKDAY_KEYS:
            raise ValueError(f"weekdays: unknown day {key!r} (expected {', '.join(WEEKDAY_KEYS)})")
        field = f"weekdays.{key}"
        if not isinstance(intervals, list | tuple):
            raise ValueError(f"{field}: expected a list of [start, end] pairs, got {intervals!r}")
        parsed: list[Interval] = []
        for index, pair in enumerate(intervals):
            where = f"{field}[{index}]"
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError(f"{where}: expected a [start, end] pair, got {pair!r}")
            start, end = _parse_time(pair[0], where), _parse_time(pair[1], where)
            if end < start:
                raise ValueError(f"{where}: end {pair[1]} is before start {pair[0]}")
            parsed.append((start, end))
        week[WEEKDAY_KEYS.index(key)] = tuple(parsed)
    return tuple(week)


def _parse_time(value: object, field: str) -> time:
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{field}: {value!r} is not a time of day in HH:MM form")
    return time(int(match[1]), int(match[2]))


def _parse_holidays(value: object) -> frozenset[date]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"holidays: expected a list of YYYY-MM-DD dates, got {value!r}")
    days: set[date] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str) or not _DATE.fullmatch(item):
            raise ValueError(f"holidays[{index}]: {item!r} is not a date in YYYY-MM-DD form")
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f"holidays[{index}]: {item!r} is not a valid date") from None
    return frozenset(days)


def _role_label(role: str) -> tuple[str, str]:
    return role_label(role, "ja"), _EN_PLURALS.get(role, role)


def _exceptions(off_hours_roles: frozenset[str]) -> tuple[str, str]:
    """Who may still connect, as sentences to follow a refusal."""
    order: dict[str, int] = {r: i for i, r in enumerate(Role)}
    roles = sorted(off_hours_roles, key=lambda r: (order.get(r, len(order)), r))
    if not roles:
        return "災害モード中は利用できます。", "Everyone may connect during disaster mode."
    labels_ja = "・".join(_role_label(r)[0] for r in roles)
    labels_en = [_role_label(r)[1] for r in roles]
    if len(labels_en) > 1:
        labels_en = [", ".join(labels_en[:-1]) + " and " + labels_en[-1]]
    who_en = labels_en[0][:1].upper() + labels_en[0][1:]
    return (f"{labels_ja}の方、または災害モード中は利用できます。",
            f"{who_en} may connect at any time, and everyone may during disaster mode.")


def _day_label(hours: WorkingHours, day: date) -> tuple[str, str]:
    """「平日」 when the day is Monday to Friday and those share their hours, else the weekday."""
    weekday = day.weekday()
    workweek = {_open_intervals(intervals) for intervals in hours.weekdays[:5]}
    if weekday < 5 and len(workweek) == 1:
        return "平日", "weekdays"
    return f"{_JA_WEEKDAYS[weekday]}曜日", _EN_WEEKDAYS_PLURAL[weekday]


def _closure_reason(closure: _Closure, day: date) -> tuple[str, str]:
    if closure == "year_end":
        return ("年末年始（12月29日〜1月3日）の閉庁期間のため利用できません。",
                "You cannot connect during the year-end closure (29 Dec – 3 Jan).")
    if closure == "holiday":
        return (f"本日（{_ja_date(day)}）は休日のため利用できません。",
                f"You cannot connect today ({_en_date(day)}): the office is closed for a holiday.")
    return (f"本日（{_JA_WEEKDAYS[day.weekday()]}曜日）は閉庁日のため利用できません。",
            f"You cannot connect today: the office is closed on "
            f"{_EN_WEEKDAYS_PLURAL[day.weekday()]}.")


def _ja_time(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def _en_time(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _ja_date(day: date) -> str:
    return f"{day.month}月{day.day}日({_JA_WEEKDAYS[day.weekday()]})"


def _en_date(day: date) -> str:
    return f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]}"


def _ja_moment(moment: datetime) -> str:
    return f"{_ja_date(moment.date())} {_ja_time(moment.time())}"


def _en_moment(moment: datetime) -> str:
    return f"{_en_date(moment.date())} {_en_time(moment.time())}"
