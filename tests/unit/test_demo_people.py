"""The demo city's people as the tests name them (tests/support/people.py)."""

from __future__ import annotations

from chat.demo import demo_staff
from tests.support import people

NAMED = {name: getattr(people, name) for name in dir(people)
         if name.isupper() and name != "ROSTER"}


def test_every_person_the_demo_seeds_has_one_name_in_the_tests() -> None:
    assert sorted(NAMED.values()) == sorted(row.staff_number for row in demo_staff())


def test_a_name_is_the_staff_number_of_the_person_with_that_family_name() -> None:
    assert people.ROSTER[people.SUZUKI].name == "鈴木 花子"
    assert people.ROSTER[people.YAMADA].role == "admin"
    assert people.extension_of(people.TANAKA) == "2201"
