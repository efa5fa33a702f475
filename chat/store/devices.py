"""Queries on enrolled devices, their passkeys and one-time enrollment codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Device, EnrollmentCode, Passkey, User


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, device_id: int) -> Device | None:
        return await self.session.get(Device, device_id)

    async def by_jkt(self, jkt: str) -> Device | None:
        return await self.session.scalar(select(Device).where(Device.jkt == jkt))

    def add(self, device: Device) -> None:
        self.session.add(device)

    async def listing(self, *, user_id: int | None = None
                      ) -> Sequence[tuple[Device, User]]:
        stmt = (select(Device, User).join(User, Device.user_id == User.id)
                .order_by(User.staff_number, Device.id))
        if user_id is not None:
            stmt = stmt.where(Device.user_id == user_id)
        return [(d, u) for d, u in (await self.session.execute(stmt)).all()]

    async def revoke(self, device_id: int, *, at: datetime, reason: str) -> bool:
        """Mark an active device revoked; False if it was not active."""
        rows = await self.session.execute(
            update(Device).where(Device.id == device_id, Device.state == "active")
            .values(state="revoked", revoked_at=at, revoked_reason=reason)
            .returning(Device.id))
        return rows.first() is not None

    async def touch(self, device_id: int, *, at: datetime) -> None:
        await self.session.execute(
            update(Device).where(Device.id == device_id).values(last_seen_at=at))

    # -- passkeys ----------------------------------------------------------------------

    def add_passkey(self, passkey: Passkey) -> None:
        self.session.add(passkey)

    async def passkey(self, credential_id: str) -> Passkey | None:
        return await self.session.scalar(
            select(Passkey).where(Passkey.credential_id == credential_id))

    async def delete_passkey(self, passkey_id: int) -> None:
        await self.session.execute(delete(Passkey).where(Passkey.id == passkey_id))

    async def record_passkey_use(self, passkey_id: int, *, sign_count: int,
                                 at: datetime) -> None:
        await self.session.execute(
            update(Passkey).where(Passkey.id == passkey_id)
            .values(sign_count=sign_count, last_used_at=at))

    async def active_passkey_ids_of_user(self, user_id: int) -> Sequence[str]:
        """Passkeys on the person's active devices (a revoked phone's passkey must not
        stop the same phone from enrolling again)."""
        return (await self.session.scalars(
            select(Passkey.credential_id).join(Device, Passkey.device_id == Device.id)
            .where(Passkey.user_id == user_id, Device.state == "active"))).all()

    # -- enrollment codes --------------------------------------------------------------

    def add_code(self, code: EnrollmentCode) -> None:
        self.session.add(code)

    async def code_by_digest(self, digest: str) -> EnrollmentCode | None:
        return await self.session.scalar(
            select(EnrollmentCode).where(EnrollmentCode.code_digest == digest))

    async def consume_code(self, code_id: int, *, at: datetime) -> bool:
        """Mark a code used, once: False if it was used or expired meanwhile (a race
        between two phones resolves to exactly one winner)."""
        rows = await self.session.execute(
            update(EnrollmentCode)
            .where(EnrollmentCode.id == code_id, EnrollmentCode.used_at.is_(None),
                   EnrollmentCode.expires_at > at)
            .values(used_at=at).returning(EnrollmentCode.id))
        return rows.first() is not None

    async def attach_code_device(self, code_id: int, device_id: int) -> None:
        await self.session.execute(
            update(EnrollmentCode).where(EnrollmentCode.id == code_id)
            .values(device_id=device_id))
