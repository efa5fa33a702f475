"""bus_outbox: events the CLI publishes on the in-process bus, for the nodes to relay

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

On the embedded default (``memory://``) a ``tsunagu`` command beside a node writes what it
publishes here, and every serving node polls for new rows and publishes them to its
clients (chat/bus/outbox.py). AUTOINCREMENT on SQLite, so ids are never reused.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chat.store.models import UTCDateTime

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('bus_outbox',
    sa.Column('id', _ID, nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bus_outbox')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_bus_outbox_created_at'), 'bus_outbox', ['created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_bus_outbox_created_at'), table_name='bus_outbox')
    op.drop_table('bus_outbox')
