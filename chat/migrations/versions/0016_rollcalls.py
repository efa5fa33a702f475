"""rollcalls: safety roll calls (安否確認) and each person's answer

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

One answer per person per roll call: ``(roll_call_id, user_id)`` is unique, so an answer
sent twice (a retry, a second tap) is stored once and answering again replaces it (the
audit log keeps the history). A position (micro-degrees, as a photo's, and its accuracy
in metres) is stored only when the person attached it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chat.store.models import UTCDateTime

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('roll_calls',
    sa.Column('id', _ID, nullable=False),
    sa.Column('disaster_id', _ID, nullable=True),
    sa.Column('message_id', _ID, nullable=True),
    sa.Column('text', sa.String(length=400), nullable=False),
    sa.Column('deadline', UTCDateTime(), nullable=True),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('started_by', sa.String(length=100), nullable=False),
    sa.Column('started_by_user_id', _ID, nullable=True),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['disaster_id'], ['disasters.id'], name=op.f('fk_roll_calls_disaster_id_disasters'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_roll_calls_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['started_by_user_id'], ['users.id'], name=op.f('fk_roll_calls_started_by_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roll_calls'))
    )
    op.create_table('roll_call_answers',
    sa.Column('id', _ID, nullable=False),
    sa.Column('roll_call_id', _ID, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('latitude_e6', sa.Integer(), nullable=True),
    sa.Column('longitude_e6', sa.Integer(), nullable=True),
    sa.Column('accuracy_m', sa.Integer(), nullable=True),
    sa.Column('answered_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['roll_call_id'], ['roll_calls.id'], name=op.f('fk_roll_call_answers_roll_call_id_roll_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_roll_call_answers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roll_call_answers')),
    sa.UniqueConstraint('roll_call_id', 'user_id', name='uq_roll_call_answers_call_user')
    )


def downgrade() -> None:
    op.drop_table('roll_call_answers')
    op.drop_table('roll_calls')
