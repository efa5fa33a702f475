"""PostgreSQL: a batch's new revisions flagged by a statement planned for the tables as they are

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27

Alembic 0011's statement-level trigger flags a batch's new revisions that differ from
their message's text. PL/pgSQL plans a static statement once per connection and keeps
the plan: one made while ``message_revisions`` and ``messages`` were small (a new city,
or the benchmark's empty database) hash-joins the batch against a scan of both tables,
and went on scanning them as they grew. On a database that started empty and had no
autovacuum, a batch's revision insert cost 24 µs a message at first and 121 µs after
55,000 messages, in one run (docs/performance.md, (d)). The statement is now run with
``EXECUTE``, planned at each batch with the tables' current sizes and the batch's row
count (~0.1 ms of the server's time a batch): a probe by primary key for each new row.

The downgrade restores 0011's function.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPDATE = ("UPDATE message_revisions AS r SET superseded = true FROM inserted AS i "
           "WHERE r.id = i.id AND NOT r.superseded AND NOT EXISTS (SELECT 1 FROM messages "
           "AS m WHERE m.id = i.message_id AND m.body = i.body)")
PLANNED_EACH_TIME = (
    "CREATE OR REPLACE FUNCTION tsunagu_revisions_inserted() "
    "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"EXECUTE '{_UPDATE}'; "
    "RETURN NULL; END $$")
PLANNED_ONCE_0011 = (
    "CREATE OR REPLACE FUNCTION tsunagu_revisions_inserted() "
    "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"{_UPDATE}; "
    "RETURN NULL; END $$")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PLANNED_EACH_TIME)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PLANNED_ONCE_0011)
