"""Web Push subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Device, PushSubscription, User


class PushRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def save(self, *, user_id: int, device_id: int | None, endpoint: str,
                   p256dh: str, auth: str, now: datetime) -> PushSubscription:
        """Store a subscription, or take over the one with this endpoint (the same
        browser, now signed in as this person on this device, with fresh keys)."""
        existing = await self.session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
            .with_for_update())
        if existing is None:
            existing = PushSubscription(endpoint=endpoint, created_at=now, user_id=user_id,
                                        device_id=device_id, p256dh=p256dh, auth=auth)
            self.session.add(existing)
        else:
            existing.user_id, existing.device_id = user_id, device_id
            existing.p256dh, existing.auth = p256dh, auth
        return existing

    async def remove(self, endpoint: str, *, user_id: int | None = None) -> bool:
        """Delete by endpoint (only the person's own when ``user_id`` is given)."""
        stmt = delete(PushSubscription).where(PushSubscription.endpoint == endpoint)
        if user_id is not None:
            stmt = stmt.where(PushSubscription.user_id == user_id)
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def deliverable(self, user_ids: Sequence[int]) -> Sequence[PushSubscription]:
        """The subscriptions of these people that may still receive pushes: active
        accounts, on devices that are not revoked (a lost phone hears nothing more)."""
        if not user_ids:
            return []
        return (await self.session.scalars(
            select(PushSubscription)
            .join(User, User.id == PushSubscription.user_id)
            .outerjoin(Device, Device.id == PushSubscription.device_id)
            .where(PushSubscription.user_id.in_(sorted(set(user_ids))), User.is_active,
                   or_(PushSubscription.device_id.is_(None), Device.state == "active"))
            .order_by(PushSubscription.id))).all()

    async def deliverable_to_everyone(self) -> Sequence[PushSubscription]:
        """Every subscription that may still receive pushes (``deliverable`` for all
        active accounts): a disaster's declaration and end go to everyone."""
        return (await self.session.scalars(
            select(PushSubscription)
            .join(User, User.id == PushSubscription.user_id)
            .outerjoin(Device, Device.id == PushSubscription.device_id)
            .where(User.is_active,
                   or_(PushSubscription.device_id.is_(None), Device.state == "active"))
            .order_by(PushSubscription.id))).all()
