"""The org chart (chat/domain/orgchart.py) and roles (chat/domain/roles.py)."""

from __future__ import annotations

import pytest

from chat.domain.orgchart import (
    LEVEL_LABELS,
    LEVELS,
    MembershipChange,
    OrgChartError,
    check_tree,
    department_channels_for,
    diff_memberships,
    lineage,
)
from chat.domain.roles import ANNOUNCERS, ChannelKind, Role, may_post, parse_role

# 総務部 (1) > 総務課 (2) > 庶務係 (3); 総務部 (1) > 人事課 (4); 市民部 (10) at the root.
CITY: dict[int, int | None] = {1: None, 2: 1, 3: 2, 4: 1, 10: None}


# --- lineage -----------------------------------------------------------------------------


def test_lineage_lists_the_department_then_its_ancestors_nearest_first() -> None:
    assert lineage(3, CITY) == [3, 2, 1]


def test_lineage_of_a_root_department_is_itself() -> None:
    assert lineage(10, CITY) == [10]


def test_lineage_of_a_sibling_branch_does_not_include_cousins() -> None:
    assert lineage(4, CITY) == [4, 1]


def test_lineage_of_a_department_in_a_cycle_raises() -> None:
    with pytest.raises(OrgChartError, match="cycle"):
        lineage(1, {1: 2, 2: 1})


def test_a_department_that_is_its_own_parent_is_a_cycle() -> None:
    with pytest.raises(OrgChartError, match="cycle"):
        lineage(5, {5: 5})


def test_lineage_leading_into_a_cycle_raises() -> None:
    with pytest.raises(OrgChartError, match="cycle"):
        lineage(3, {3: 2, 2: 1, 1: 2})


def test_lineage_with_a_dangling_parent_raises_naming_the_missing_department() -> None:
    with pytest.raises(OrgChartError, match="99"):
        lineage(3, {3: 2, 2: 99})


def test_lineage_of_an_unknown_department_raises() -> None:
    with pytest.raises(OrgChartError, match="42"):
        lineage(42, CITY)


def test_org_chart_error_is_a_value_error() -> None:
    assert issubclass(OrgChartError, ValueError)


# --- check_tree --------------------------------------------------------------------------


def test_check_tree_accepts_a_forest_where_every_department_reaches_a_root() -> None:
    check_tree(CITY)
    check_tree({})


def test_check_tree_rejects_a_detached_cycle_even_if_the_rest_is_fine() -> None:
    with pytest.raises(OrgChartError):
        check_tree({**CITY, 20: 21, 21: 20})


def test_check_tree_rejects_a_dangling_parent() -> None:
    with pytest.raises(OrgChartError):
        check_tree({**CITY, 30: 31})


# --- department channels -----------------------------------------------------------------


def test_a_kakari_member_belongs_to_its_kakari_ka_and_bu_channels() -> None:
    assert department_channels_for(3, CITY) == {3, 2, 1}


def test_a_bu_member_belongs_only_to_the_bu_channel() -> None:
    assert department_channels_for(1, CITY) == {1}


def test_staff_without_a_department_belong_to_no_department_channel() -> None:
    assert department_channels_for(None, CITY) == set()


def test_department_channels_refuse_a_broken_tree() -> None:
    with pytest.raises(OrgChartError):
        department_channels_for(1, {1: 2, 2: 1})


# --- diff_memberships --------------------------------------------------------------------


def test_moving_between_ka_joins_the_new_branch_and_leaves_the_old() -> None:
    change = diff_memberships(department_channels_for(3, CITY),
                              department_channels_for(4, CITY))
    assert change == MembershipChange(join=frozenset({4}), leave=frozenset({3, 2}))
    assert not change.empty


def test_no_move_means_an_empty_change() -> None:
    change = diff_memberships([1, 2, 3], {3, 2, 1})
    assert change.join == frozenset()
    assert change.leave == frozenset()
    assert change.empty


def test_diff_from_nothing_joins_everything_and_to_nothing_leaves_everything() -> None:
    assert diff_memberships([], [1, 2]) == MembershipChange(frozenset({1, 2}), frozenset())
    assert diff_memberships([1, 2], []) == MembershipChange(frozenset(), frozenset({1, 2}))


def test_diff_accepts_any_iterables_and_tolerates_duplicates() -> None:
    change = diff_memberships(iter([1, 1, 2]), (2, 3, 3))
    assert change == MembershipChange(join=frozenset({3}), leave=frozenset({1}))


def test_levels_are_bu_ka_kakari_with_japanese_labels() -> None:
    assert LEVELS == ("bu", "ka", "kakari")
    assert LEVEL_LABELS == {"bu": "部", "ka": "課", "kakari": "係"}


# --- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("kind", [ChannelKind.DEPARTMENT, ChannelKind.GROUP,
                                  ChannelKind.DIRECT])
def test_every_role_may_post_in_ordinary_channels(role: Role, kind: ChannelKind) -> None:
    assert may_post(role, kind)
    assert may_post(role.value, kind.value)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_managers_and_admins_may_post_announcements(role: Role) -> None:
    assert may_post(role, ChannelKind.ANNOUNCEMENT)
    assert may_post(role.value, "announcement")


@pytest.mark.parametrize("role", [Role.STAFF, Role.OPERATOR, Role.AUDITOR])
def test_other_roles_may_not_post_announcements(role: Role) -> None:
    assert not may_post(role, ChannelKind.ANNOUNCEMENT)
    assert not may_post(role.value, "announcement")


def test_an_unknown_role_may_not_post_announcements() -> None:
    assert not may_post("mayor", ChannelKind.ANNOUNCEMENT)


def test_announcers_are_exactly_managers_and_admins() -> None:
    assert frozenset({Role.MANAGER, Role.ADMIN}) == ANNOUNCERS


@pytest.mark.parametrize(("raw", "expected"), [
    ("staff", Role.STAFF),
    ("Manager", Role.MANAGER),
    ("  ADMIN ", Role.ADMIN),
    ("operator", Role.OPERATOR),
    ("auditor\t", Role.AUDITOR),
])
def test_parse_role_is_case_insensitive_and_ignores_surrounding_space(
    raw: str, expected: Role,
) -> None:
    assert parse_role(raw) is expected


@pytest.mark.parametrize("raw", ["", "boss", "課長", "staf"])
def test_parse_role_rejects_unknown_names_listing_the_allowed_ones(raw: str) -> None:
    with pytest.raises(ValueError, match="unknown role") as info:
        parse_role(raw)
    message = str(info.value)
    for role in Role:
        assert role.value in message
