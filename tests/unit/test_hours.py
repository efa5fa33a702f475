"""The off-hours policy (chat/domain/hours.py): working hours, closures, who may connect."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chat.domain.hours import (
    DEFAULT_WEEK,
    AccessDecision,
    WorkingHours,
    may_connect,
    next_opening,
)

TOKYO = ZoneInfo("Asia/Tokyo")
# 2026-11-03 (Tue, 文化の日) and 2026-11-23 (Mon, 勤労感謝の日) are configured holidays.
CITY = WorkingHours(holidays=frozenset({date(2026, 11, 3), date(2026, 11, 23)}))


def tokyo(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def decide(role: str, now: datetime, *, disaster_mode: bool = False,
           **options: Any) -> AccessDecision:
    return may_connect(role=role, now=now, hours=CITY, disaster_mode=disaster_mode, **options)


# --- is_open -----------------------------------------------------------------------------


def test_open_on_a_weekday_inside_hours() -> None:
    assert CITY.is_open(tokyo(2026, 11, 30, 10))  # Mon


def test_closed_on_a_weekday_before_and_after_hours() -> None:
    assert not CITY.is_open(tokyo(2026, 11, 30, 7, 59))
    assert not CITY.is_open(tokyo(2026, 11, 30, 19))


def test_opening_time_is_inclusive() -> None:
    assert CITY.is_open(tokyo(2026, 11, 30, 8, 30))
    assert not CITY.is_open(tokyo(2026, 11, 30, 8, 29).replace(second=59))


def test_closing_time_is_exclusive() -> None:
    assert CITY.is_open(tokyo(2026, 11, 30, 17, 14).replace(second=59, microsecond=999999))
    assert not CITY.is_open(tokyo(2026, 11, 30, 17, 15))


def test_closed_all_weekend() -> None:
    assert not CITY.is_open(tokyo(2026, 11, 28, 10))  # Sat
    assert not CITY.is_open(tokyo(2026, 11, 29, 10))  # Sun
    assert CITY.is_closed_day(date(2026, 11, 28))


def test_closed_on_a_configured_holiday() -> None:
    assert not CITY.is_open(tokyo(2026, 11, 3, 10))
    assert CITY.is_closed_day(date(2026, 11, 3))
    assert CITY.is_open(tokyo(2026, 11, 4, 10))


@pytest.mark.parametrize("day", [date(2026, 12, 29), date(2026, 12, 31), date(2027, 1, 2),
                                 date(2027, 1, 3)])
def test_closed_over_the_year_end_closure(day: date) -> None:
    assert CITY.is_closed_day(day)
    assert not CITY.is_open(datetime.combine(day, time(10), tzinfo=TOKYO))


def test_year_end_closure_covers_weekdays_that_are_not_configured_holidays() -> None:
    assert date(2026, 12, 31).weekday() == 3  # a Thursday, normally open
    assert not CITY.is_open(tokyo(2026, 12, 31, 10))


def test_open_again_after_the_year_end_closure() -> None:
    assert not CITY.is_closed_day(date(2027, 1, 4))
    assert CITY.is_open(tokyo(2027, 1, 4, 10))
    assert CITY.is_open(tokyo(2026, 12, 28, 10))


def test_year_end_closure_can_be_turned_off() -> None:
    hours = WorkingHours(year_end_closure=False)
    assert hours.is_open(tokyo(2026, 12, 31, 10))


def test_is_open_judges_a_utc_time_in_tokyo_time() -> None:
    # 01:00 UTC on Monday is 10:00 in Tokyo: open, though 01:00 would be closed locally.
    assert CITY.is_open(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    # 09:00 UTC on Monday is 18:00 in Tokyo: closed, though 09:00 would be open locally.
    assert not CITY.is_open(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))


def test_the_local_date_decides_weekends_and_holidays() -> None:
    # Friday 23:30 UTC is Saturday 08:30 in Tokyo.
    assert not CITY.is_open(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    # Monday 2026-11-02 23:30 UTC is 08:30 on the 文化の日 holiday in Tokyo.
    assert not CITY.is_open(datetime(2026, 11, 2, 23, 30, tzinfo=UTC))


def test_a_day_may_have_several_intervals() -> None:
    split = ((time(8, 30), time(12)), (time(13), time(17, 15)))
    hours = WorkingHours(weekdays=(split,) * 5 + ((), ()))
    assert hours.is_open(tokyo(2026, 11, 30, 11, 59))
    assert not hours.is_open(tokyo(2026, 11, 30, 12, 30))
    assert hours.is_open(tokyo(2026, 11, 30, 13))


def test_an_empty_interval_is_never_open() -> None:
    hours = WorkingHours(weekdays=(((time(9), time(9)),),) * 7, year_end_closure=False)
    assert not hours.is_open(tokyo(2026, 11, 30, 9))
    assert hours.is_closed_day(date(2026, 11, 30))
    assert next_opening(hours, tokyo(2026, 11, 30, 8)) is None


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        CITY.is_open(datetime(2026, 11, 30, 10))


# --- may_connect -------------------------------------------------------------------------


def test_staff_may_connect_during_working_hours() -> None:
    decision = decide("staff", tokyo(2026, 11, 30, 10))
    assert decision.allowed
    assert decision.code == "ok"


def test_a_manager_may_connect_off_hours() -> None:
    decision = decide("manager", tokyo(2026, 11, 30, 20))
    assert decision.allowed
    assert decision.code == "ok"
    assert "管理職" in decision.message_ja


def test_a_manager_may_connect_on_a_holiday() -> None:
    assert decide("manager", tokyo(2026, 11, 3, 10)).allowed


def test_staff_are_refused_after_hours_on_a_working_day_with_code_off_hours() -> None:
    decision = decide("staff", tokyo(2026, 11, 30, 18))  # Mon
    assert not decision.allowed
    assert decision.code == "off_hours"
    assert decision.message_ja == (
        "勤務時間外（平日 8:30〜17:15）のため利用できません。"
        "管理職の方、または災害モード中は利用できます。"
        "次の利用可能時刻: 12月1日(火) 8:30"
    )
    assert decision.message_en == (
        "You cannot connect outside working hours (weekdays 08:30–17:15). "
        "Managers may connect at any time, and everyone may during disaster mode. "
        "Available again: Tue 1 Dec 08:30"
    )


def test_before_opening_the_next_opening_is_the_same_morning() -> None:
    decision = decide("staff", tokyo(2026, 12, 1, 7))
    assert decision.code == "off_hours"
    assert decision.message_ja.endswith("次の利用可能時刻: 12月1日(火) 8:30")
    assert decision.message_en.endswith("Available again: Tue 1 Dec 08:30")


def test_staff_are_refused_on_a_weekend_with_code_holiday() -> None:
    decision = decide("staff", tokyo(2026, 11, 28, 10))  # Sat
    assert not decision.allowed
    assert decision.code == "holiday"
    assert "本日（土曜日）は閉庁日のため利用できません。" in decision.message_ja
    assert "closed on Saturdays" in decision.message_en
    assert decision.message_ja.endswith("次の利用可能時刻: 11月30日(月) 8:30")
    assert decision.message_en.endswith("Available again: Mon 30 Nov 08:30")


def test_staff_are_refused_on_a_configured_holiday_with_code_holiday() -> None:
    decision = decide("staff", tokyo(2026, 11, 3, 10))  # Tue, a working weekday otherwise
    assert decision.code == "holiday"
    assert "本日（11月3日(火)）は休日のため利用できません。" in decision.message_ja
    assert "closed for a holiday" in decision.message_en
    assert decision.message_ja.endswith("11月4日(水) 8:30")


def test_staff_are_refused_over_the_year_end_with_code_holiday() -> None:
    decision = decide("staff", tokyo(2026, 12, 31, 10))
    assert decision.code == "holiday"
    assert "年末年始" in decision.message_ja
    assert "year-end closure" in decision.message_en
    assert decision.message_ja.endswith("次の利用可能時刻: 1月4日(月) 8:30")
    assert decision.message_en.endswith("Available again: Mon 4 Jan 08:30")


def test_disaster_mode_lets_staff_connect_off_hours_and_on_holidays() -> None:
    for now in (tokyo(2026, 11, 30, 22), tokyo(2026, 11, 28, 10), tokyo(2027, 1, 1, 3)):
        decision = decide("staff", now, disaster_mode=True)
        assert decision.allowed
        assert decision.code == "ok"
        assert "災害モード" in decision.message_ja


def test_an_admin_may_allow_more_roles_off_hours() -> None:
    roles = frozenset({"manager", "operator"})
    assert decide("operator", tokyo(2026, 11, 30, 22), off_hours_roles=roles).allowed
    assert not decide("staff", tokyo(2026, 11, 30, 22), off_hours_roles=roles).allowed


def test_the_refusal_names_every_role_allowed_off_hours() -> None:
    roles = frozenset({"manager", "operator"})
    decision = decide("staff", tokyo(2026, 11, 30, 22), off_hours_roles=roles)
    assert "管理職・オペレーターの方、または災害モード中は利用できます。" in decision.message_ja
    assert "Managers and operators may connect at any time" in decision.message_en


def test_with_no_off_hours_roles_even_managers_are_refused() -> None:
    decision = decide("manager", tokyo(2026, 11, 30, 22), off_hours_roles=frozenset())
    assert not decision.allowed
    assert "。災害モード中は利用できます。" in decision.message_ja


def test_off_hours_message_names_the_hours_of_that_day_when_days_differ() -> None:
    saturday_morning = ((time(9), time(12)),)
    hours = WorkingHours(weekdays=(*DEFAULT_WEEK[:5], saturday_morning, ()))
    decision = may_connect(role="staff", now=tokyo(2026, 11, 28, 13), hours=hours,
                           disaster_mode=False)
    assert decision.code == "off_hours"
    assert "勤務時間外（土曜日 9:00〜12:00）" in decision.message_ja
    assert "(Saturdays 09:00–12:00)" in decision.message_en


def test_off_hours_message_lists_each_interval_of_the_day() -> None:
    split = ((time(8, 30), time(12)), (time(13), time(17, 15)))
    hours = WorkingHours(weekdays=(split,) * 5 + ((), ()))
    decision = may_connect(role="staff", now=tokyo(2026, 11, 30, 12, 30), hours=hours,
                           disaster_mode=False)
    assert "（平日 8:30〜12:00、13:00〜17:15）" in decision.message_ja
    assert "(weekdays 08:30–12:00, 13:00–17:15)" in decision.message_en
    assert decision.message_ja.endswith("11月30日(月) 13:00")


# --- next_opening ------------------------------------------------------------------------


def test_next_opening_after_friday_closing_is_monday_morning() -> None:
    assert next_opening(CITY, tokyo(2026, 11, 27, 17, 15)) == tokyo(2026, 11, 30, 8, 30)


def test_next_opening_skips_a_holiday_after_a_weekend() -> None:
    # Sat 21 Nov → Sun 22 → Mon 23 (勤労感謝の日) → Tue 24.
    assert next_opening(CITY, tokyo(2026, 11, 21, 10)) == tokyo(2026, 11, 24, 8, 30)


def test_next_opening_across_the_year_end_closure() -> None:
    assert next_opening(CITY, tokyo(2026, 12, 28, 17, 15)) == tokyo(2027, 1, 4, 8, 30)


def test_next_opening_while_open_is_now() -> None:
    assert next_opening(CITY, tokyo(2026, 11, 30, 10)) == tokyo(2026, 11, 30, 10)


def test_next_opening_is_given_in_city_time() -> None:
    opening = next_opening(CITY, datetime(2026, 11, 27, 9, 0, tzinfo=UTC))  # Fri 18:00 Tokyo
    assert opening == tokyo(2026, 11, 30, 8, 30)
    assert opening is not None and opening.tzinfo == TOKYO


def test_next_opening_is_none_when_closed_for_more_than_31_days() -> None:
    never = WorkingHours(weekdays=((),) * 7)
    assert next_opening(never, tokyo(2026, 11, 30, 10)) is None
    decision = may_connect(role="staff", now=tokyo(2026, 11, 30, 10), hours=never,
                           disaster_mode=False)
    assert "次の利用可能時刻" not in decision.message_ja
    assert "Available again" not in decision.message_en


# --- from_mapping ------------------------------------------------------------------------


def test_from_mapping_reads_the_documented_config() -> None:
    hours = WorkingHours.from_mapping({
        "timezone": "Asia/Tokyo",
        "weekdays": {day: [["08:30", "17:15"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-11-03", "2026-11-23"],
        "year_end_closure": True,
    })
    assert hours == CITY


def test_from_mapping_with_no_fields_is_the_default_city_hall() -> None:
    assert WorkingHours.from_mapping({}) == WorkingHours()


def test_from_mapping_days_left_out_of_weekdays_are_closed() -> None:
    hours = WorkingHours.from_mapping({"weekdays": {"sat": [["9:00", "12:00"], ["13:00", "15:00"]],
                                                    "sun": []}})
    assert not hours.is_open(tokyo(2026, 11, 30, 10))  # Mon
    assert hours.is_open(tokyo(2026, 11, 28, 9))  # Sat
    assert hours.weekdays[5] == ((time(9), time(12)), (time(13), time(15)))


def test_from_mapping_accepts_an_empty_interval() -> None:
    hours = WorkingHours.from_mapping({"weekdays": {"mon": [["09:00", "09:00"]]}})
    assert hours.weekdays[0] == ((time(9), time(9)),)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"weekdays": {"mon": [["8h30", "17:15"]]}}, r"^weekdays\.mon\[0\]: '8h30' is not a time"),
        ({"weekdays": {"mon": [["08:30", "24:00"]]}}, r"^weekdays\.mon\[0\]: '24:00' is not"),
        ({"weekdays": {"tue": [["08:30", "17:60"]]}}, r"^weekdays\.tue\[0\]: '17:60' is not"),
        ({"weekdays": {"wed": [["08:30", 1715]]}}, r"^weekdays\.wed\[0\]: 1715 is not a time"),
        ({"weekdays": {"fri": [["08:30", "12:00"], ["17:15", "13:00"]]}},
         r"^weekdays\.fri\[1\]: end 13:00 is before start 17:15"),
        ({"weekdays": {"monday": [["08:30", "17:15"]]}}, r"^weekdays: unknown day 'monday'"),
        ({"weekdays": {"mon": [["08:30"]]}}, r"^weekdays\.mon\[0\]: expected a \[start, end\]"),
        ({"weekdays": {"mon": "08:30-17:15"}}, r"^weekdays\.mon: expected a list"),
        ({"weekdays": [["08:30", "17:15"]]}, r"^weekdays: expected a mapping"),
        ({"holidays": ["2026-11-31"]}, r"^holidays\[0\]: '2026-11-31' is not a valid date"),
        ({"holidays": ["2026-11-03", "2026/11/23"]}, r"^holidays\[1\]: '2026/11/23' is not a date"),
        ({"holidays": ["20261103"]}, r"^holidays\[0\]: '20261103' is not a date"),
        ({"holidays": "2026-11-03"}, r"^holidays: expected a list"),
        ({"timezone": "Asia/Tokio"}, r"^timezone: unknown time zone 'Asia/Tokio'"),
        ({"timezone": "../etc/passwd"}, r"^timezone: unknown time zone"),
        ({"timezone": 9}, r"^timezone: expected a time zone name"),
        ({"year_end_closure": "yes"}, r"^year_end_closure: expected true or false"),
        ({"holiday": ["2026-11-03"]}, r"^holiday: unknown field"),
    ],
)
def test_from_mapping_names_the_bad_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.from_mapping(config)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValueError, match=r"weekdays: expected 7 days"):
        WorkingHours(weekdays=DEFAULT_WEEK[:5])
    with pytest.raises(ValueError, match=r"^weekdays\.mon\[0\]: end 08:00 is before start 09:00"):
        WorkingHours(weekdays=(((time(9), time(8)),), *DEFAULT_WEEK[1:]))
    with pytest.raises(ValueError, match=r"^holidays: .* is not a date"):
        WorkingHours(holidays=frozenset({datetime(2026, 11, 3, tzinfo=TOKYO)}))
    with pytest.raises(ValueError, match=r"^timezone: unknown time zone"):
        WorkingHours(timezone="Mars/Olympus_Mons")
