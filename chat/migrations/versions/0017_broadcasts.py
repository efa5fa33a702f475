"""broadcasts: urgent broadcasts (緊急放送) and their building/floor groups

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

``broadcast_groups`` names the groups a broadcast can go to, each with its announcement
channel; ``broadcasts`` keeps a broadcast's repeat state beside its message (the repeat
job's conditional update on ``repeats_done`` lets one node of several send a repeat).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chat.store.models import UTCDateTime

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('broadcast_groups',
    sa.Column('id', _ID, nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('channel_id', _ID, nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_broadcast_groups_channel_id_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcast_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_broadcast_groups_name'))
    )
    op.create_table('broadcasts',
    sa.Column('message_id', _ID, nullable=False),
    sa.Column('channel_id', _ID, nullable=False),
    sa.Column('target', sa.String(length=40), nullable=False),
    sa.Column('sent_by', _ID, nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=False),
    sa.Column('repeat_every_seconds', sa.Integer(), nullable=False),
    sa.Column('max_repeats', sa.Integer(), nullable=False),
    sa.Column('repeats_done', sa.Integer(), nullable=False),
    sa.Column('next_repeat_at', UTCDateTime(), nullable=True),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_broadcasts_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_broadcasts_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sent_by'], ['users.id'], name=op.f('fk_broadcasts_sent_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_broadcasts'))
    )
    op.create_index(op.f('ix_broadcasts_next_repeat_at'), 'broadcasts', ['next_repeat_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_broadcasts_next_repeat_at'), table_name='broadcasts')
    op.drop_table('broadcasts')
    op.drop_table('broadcast_groups')
