"""disasters: declared disasters and drills (災害・訓練), at most one active

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``active`` is 1 while a disaster is active and NULL once it ends; its unique index lets
only one row hold 1 on both dialects (NULLs never collide), so two declarations racing
on two nodes resolve to one disaster and a ``disaster_active`` refusal.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chat.store.models import UTCDateTime

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('disasters',
    sa.Column('id', _ID, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Integer(), nullable=True),
    sa.Column('declared_at', UTCDateTime(), nullable=False),
    sa.Column('declared_by', sa.String(length=100), nullable=False),
    sa.Column('declared_by_user_id', _ID, nullable=True),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=100), nullable=True),
    sa.Column('hq_channel_id', _ID, nullable=True),
    sa.ForeignKeyConstraint(['declared_by_user_id'], ['users.id'], name=op.f('fk_disasters_declared_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hq_channel_id'], ['channels.id'], name=op.f('fk_disasters_hq_channel_id_channels'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disasters')),
    sa.UniqueConstraint('active', name=op.f('uq_disasters_active'))
    )


def downgrade() -> None:
    op.drop_table('disasters')
