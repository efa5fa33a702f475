"""The org chart (部→課→係) and the channel memberships that follow from it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LEVELS = ("bu", "ka", "kakari")
LEVEL_LABELS = {"bu": "部", "ka": "課", "kakari": "係"}


class OrgChartError(ValueError):
    """The department tree is inconsistent (a cycle, an unknown parent, a bad level)."""


@dataclass(frozen=True)
class DepartmentNode:
    id: int
    parent_id: int | None


def lineage(department_id: int, parents: Mapping[int, int | None]) -> list[int]:
    """The department and all its ancestors, nearest first.

    Raises OrgChartError on a cycle or a dangling parent, so a broken import never
    silently drops people from channels.
    """
    chain: list[int] = []
    current: int | None = department_id
    while current is not None:
        if current in chain:
            raise OrgChartError(f"department {department_id} is in a cycle")
        if current not in parents:
            raise OrgChartError(f"department {current} is not in the tree")
        chain.append(current)
        current = parents[current]
    return chain


def department_channels_for(
    department_id: int | None, parents: Mapping[int, int | None]
) -> set[int]:
    """Department ids whose channels a member of ``department_id`` belongs to:
    their own 係 and every 課 and 部 above it."""
    if department_id is None:
        return set()
    return set(lineage(department_id, parents))


@dataclass(frozen=True)
class MembershipChange:
    join: frozenset[int]
    leave: frozenset[int]

    @property
    def empty(self) -> bool:
        return not self.join and not self.leave


def diff_memberships(current: Iterable[int], desired: Iterable[int]) -> MembershipChange:
    """Which org-chart channels to join and leave to go from ``current`` to ``desired``.
    Only memberships the org chart created are passed here; manual ones are never touched."""
    cur, want = set(current), set(desired)
    return MembershipChange(join=frozenset(want - cur), leave=frozenset(cur - want))


def check_tree(parents: Mapping[int, int | None]) -> None:
    """Raise OrgChartError unless every department reaches a root."""
    for department_id in parents:
        lineage(department_id, parents)
