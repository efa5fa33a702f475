"""Retention periods (public-records rules) and legal holds, as pure rules.

A city keeps records for fixed periods (1, 3, 5, 10, 30 years, or forever: 永年保存).
A period is set for a channel kind and may be overridden for one channel; a message
expires when its period has passed since it was *created*. With no policy at all a
message is kept forever: deleting records must always be a decision someone made.

A legal hold (訴訟ホールド) freezes what it covers until it is released, whatever the
retention period says. It names a person, a channel, a date range, or a combination;
every criterion it names must match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chat.domain.roles import ChannelKind

MAX_YEARS = 100
FOREVER_WORDS = frozenset({"forever", "永年", "無期限", "permanent"})


def parse_keep_years(value: str) -> int | None:
    """``"5"``, ``"5y"`` or ``"5年"`` → 5; ``"forever"`` / ``"永年"`` → None (keep forever).

    ValueError explains what is accepted."""
    text = value.strip().lower()
    if text in FOREVER_WORDS:
        return None
    digits = text.removesuffix("y").removesuffix("years").removesuffix("年").strip()
    try:
        years = int(digits)
    except ValueError:
        raise ValueError(
            f"retention period {value!r} is not a number of years or 'forever'") from None
    check_keep_years(years)
    return years


def check_keep_years(years: int | None) -> None:
    if years is not None and not 1 <= years <= MAX_YEARS:
        raise ValueError(f"retention period must be 1 to {MAX_YEARS} years, or forever")


def parse_channel_kind(value: str) -> ChannelKind:
    try:
        return ChannelKind(value.strip().lower())
    except ValueError:
        allowed = ", ".join(k.value for k in ChannelKind)
        raise ValueError(f"unknown channel kind {value!r} (allowed: {allowed})") from None


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar instant ``years`` earlier; 29 February becomes 28 February."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True)
class PolicyRow:
    channel_kind: str | None
    channel_id: int | None
    keep_years: int | None


@dataclass(frozen=True)
class Effective:
    """The period that applies to one channel, and where it comes from."""

    keep_years: int | None
    source: str  # "channel", "kind" or "default"

    def cutoff(self, now: datetime) -> datetime | None:
        """Messages created before this moment have expired; None: keep forever."""
        return None if self.keep_years is None else years_before(now, self.keep_years)


def effective_policy(channel_id: int, channel_kind: str,
                     policies: Iterable[PolicyRow]) -> Effective:
    """A channel's own policy wins over its kind's; with neither, keep forever."""
    by_kind: PolicyRow | None = None
    for policy in policies:
        if policy.channel_id == channel_id:
            return Effective(policy.keep_years, "channel")
        if policy.channel_kind == channel_kind:
            by_kind = policy
    if by_kind is not None:
        return Effective(by_kind.keep_years, "kind")
    return Effective(None, "default")


@dataclass(frozen=True)
class HoldScope:
    """What one active legal hold covers.

    A hold on a person covers the messages they sent and every message in the direct and
    group chats they are in (``conversation_ids``, resolved by the store), so both sides
    of their conversations are kept."""

    hold_id: int
    user_id: int | None = None
    channel_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    conversation_ids: frozenset[int] = frozenset()

    def covers(self, *, sender_id: int | None, channel_id: int,
               created_at: datetime) -> bool:
        if self.user_id is not None and not (
                sender_id == self.user_id or channel_id in self.conversation_ids):
            return False
        if self.channel_id is not None and channel_id != self.channel_id:
            return False
        if self.starts_at is not None and created_at < self.starts_at:
            return False
        return self.ends_at is None or created_at < self.ends_at


def held_by(holds: Iterable[HoldScope], *, sender_id: int | None, channel_id: int,
            created_at: datetime) -> list[int]:
    """The ids of the holds that cover a message (empty: it may be purged)."""
    return [h.hold_id for h in holds
            if h.covers(sender_id=sender_id, channel_id=channel_id, created_at=created_at)]


def check_hold_scope(*, user_id: int | None, channel_id: int | None,
                     starts_at: datetime | None, ends_at: datetime | None) -> None:
    """A hold must name something, and its range must not be empty."""
    if user_id is None and channel_id is None and starts_at is None and ends_at is None:
        raise ValueError("a legal hold must name a person, a channel or a date range")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError("a legal hold's range must end after it starts")


def time_windows(moments: Iterable[datetime], slack: timedelta
                 ) -> list[tuple[datetime, datetime]]:
    """Each moment ± ``slack``, overlapping windows merged: where to look for the sealed
    audit entries that vouch for messages' creation times (few queries' worth of ranges
    for a batch of messages written close together)."""
    windows: list[tuple[datetime, datetime]] = []
    for moment in sorted(moments):
        lo, hi = moment - slack, moment + slack
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi)
        else:
            windows.append((lo, hi))
    return windows
