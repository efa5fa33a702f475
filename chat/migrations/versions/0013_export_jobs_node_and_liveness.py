"""export jobs: the node that runs each one, and when it last said it was alive

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27

A node that stopped without shutting down (killed, its machine lost) left its exports
``running`` for ever, their partial files on its disk. A job's runner now touches
``alive_at`` every few seconds, queued or running; any node marks a running job whose
``alive_at`` is a minute old failed and audits it (``records.export_failed``), and a node
removes the files of its own failed jobs. ``node_id`` says where a job's files are.
Existing jobs get neither: a running one from before is failed by the first sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chat.store.models import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('export_jobs') as batch:
        batch.add_column(sa.Column('node_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('alive_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('export_jobs') as batch:
        batch.drop_column('alive_at')
        batch.drop_column('node_id')
