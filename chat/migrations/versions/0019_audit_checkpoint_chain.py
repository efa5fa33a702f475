"""audit checkpoint chain: each checkpoint numbered and linked to the one before

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

Adds ``number`` (1, 2, 3, … without gaps, unique) and ``prev_digest`` (the previous
checkpoint's digest) to ``audit_checkpoints``; a checkpoint signs both. Checkpoints
signed before this migration keep both NULL and verify the old way (their signature over
``seq:hash``); the first new checkpoint is number 1 and links to the newest of them (or
to 64 zeros), so the chain of checkpoints starts there. Nothing is re-signed: an upgrade
cannot vouch for what the old checkpoints did not sign.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_digest', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_audit_checkpoints_number'),
                                          ['number'])


def downgrade() -> None:
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_checkpoints_number'), type_='unique')
        batch_op.drop_column('prev_digest')
        batch_op.drop_column('number')
