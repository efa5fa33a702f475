"""field_reports: field reports (被害報告) to the disaster HQ and their photos

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

A report's message (kind ``report``) is the card in the HQ channel; ``field_reports`` is
its follow-up on the HQ board and the one place its position is kept;
``field_report_photos`` links its photos (several per report, in order).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chat.store.models import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('field_reports',
    sa.Column('message_id', _ID, nullable=False),
    sa.Column('disaster_id', _ID, nullable=False),
    sa.Column('reporter_id', _ID, nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('latitude_e6', sa.Integer(), nullable=True),
    sa.Column('longitude_e6', sa.Integer(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('taken_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_changed_by', _ID, nullable=True),
    sa.Column('status_changed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_field_reports_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['disaster_id'], ['disasters.id'], name=op.f('fk_field_reports_disaster_id_disasters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_field_reports_reporter_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['status_changed_by'], ['users.id'], name=op.f('fk_field_reports_status_changed_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_field_reports'))
    )
    op.create_index('ix_field_reports_disaster', 'field_reports', ['disaster_id', 'message_id'], unique=False)
    op.create_table('field_report_photos',
    sa.Column('attachment_id', _ID, nullable=False),
    sa.Column('message_id', _ID, nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'], name=op.f('fk_field_report_photos_attachment_id_attachments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['field_reports.message_id'], name=op.f('fk_field_report_photos_message_id_field_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('attachment_id', name=op.f('pk_field_report_photos'))
    )
    op.create_index(op.f('ix_field_report_photos_message_id'), 'field_report_photos', ['message_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_field_report_photos_message_id'), table_name='field_report_photos')
    op.drop_table('field_report_photos')
    op.drop_index('ix_field_reports_disaster', table_name='field_reports')
    op.drop_table('field_reports')
