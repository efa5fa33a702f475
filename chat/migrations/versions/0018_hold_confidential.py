"""hold_confidential: confidential legal holds, and the reason an export was asked for

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

Staff see when an auditor read or exported their messages (docs/audit.md,
Transparency), except while a hold marked ``confidential`` covers those messages.
``export_jobs.reason`` keeps the auditor's stated reason until the export completes, so
``records.exported`` can carry it with the senders it touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('legal_holds') as batch:
        batch.add_column(sa.Column('confidential', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table('export_jobs') as batch:
        batch.add_column(sa.Column('reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('export_jobs') as batch:
        batch.drop_column('reason')
    with op.batch_alter_table('legal_holds') as batch:
        batch.drop_column('confidential')
