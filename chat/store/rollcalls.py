"""Safety roll calls (安否確認) and their answers: one answer per person and roll call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Department, RollCall, RollCallAnswer, User


class RollCallRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, roll_call: RollCall) -> None:
        self.session.add(roll_call)

    async def get(self, roll_call_id: int) -> RollCall | None:
        return await self.session.get(RollCall, roll_call_id)

    async def latest(self) -> RollCall | None:
        """The most recently started roll call (what ``rollcall status`` shows)."""
        return (await self.session.scalars(
            select(RollCall).order_by(RollCall.id.desc()).limit(1))).first()

    async def people(self) -> Sequence[tuple[int, str, str, int | None]]:
        """Everyone a roll call asks: ``(id, name, staff_number, department_id)`` of
        every active person. Plain rows, not objects: the live tally reads them a few
        times a second while answers arrive."""
        return (await self.session.execute(
            select(User.id, User.name, User.staff_number, User.department_id)
            .where(User.is_active))).all()

    async def departments(self) -> dict[int, tuple[str, str, int | None, int]]:
        """The org chart as the tally places people in it: id → (name, level, parent
        id, sort order)."""
        rows = (await self.session.execute(select(
            Department.id, Department.name, Department.level, Department.parent_id,
            Department.sort_order))).all()
        return {d: (name, level, parent, order) for d, name, level, parent, order in rows}

    async def answer_rows(self, roll_call_id: int) -> Sequence[tuple[
            int, str, str, int | None, int | None, int | None, datetime]]:
        """Every answer as ``(user_id, status, note, latitude_e6, longitude_e6,
        accuracy_m, answered_at)`` (plain rows, for the tally and the CSV)."""
        return (await self.session.execute(select(
            RollCallAnswer.user_id, RollCallAnswer.status, RollCallAnswer.note,
            RollCallAnswer.latitude_e6, RollCallAnswer.longitude_e6,
            RollCallAnswer.accuracy_m, RollCallAnswer.answered_at)
            .where(RollCallAnswer.roll_call_id == roll_call_id))).all()

    async def answer_of(self, roll_call_id: int, user_id: int) -> RollCallAnswer | None:
        return (await self.session.scalars(select(RollCallAnswer).where(
            RollCallAnswer.roll_call_id == roll_call_id,
            RollCallAnswer.user_id == user_id))).first()

    async def answer_count(self, roll_call_id: int) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(RollCallAnswer)
            .where(RollCallAnswer.roll_call_id == roll_call_id)) or 0)

    async def insert_answer(self, answer: RollCallAnswer) -> RollCallAnswer | None:
        """Insert a first answer; None when the person's answer was stored meanwhile
        (another request of theirs won the unique index: the caller updates that one).
        A savepoint keeps the transaction usable after the refusal."""
        try:
            async with self.session.begin_nested():
                self.session.add(answer)
                await self.session.flush()
        except IntegrityError:
            return None
        return answer
