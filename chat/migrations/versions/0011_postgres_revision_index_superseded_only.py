"""search indexes on PostgreSQL: a revision's text is indexed only once it is superseded

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27

Every message is stored with its first revision, the same text, and PostgreSQL's GIN
indexes on ``message_revisions`` (trigram and grams, alembic 0001 and 0007) indexed it
a second time: measured with ``INSERT … SELECT`` of 10,000 rows of the benchmark's
43-character message, ~200 µs of the server's work a row for either table, so half of
what a stored message cost PostgreSQL (docs/performance.md, (d)). What alembic 0008 did
for SQLite, done here with a flag, since an index cannot look at another table:

- ``message_revisions.superseded``: true while the revision's text is not its message's
  current text (an edited-away text, a deleted message's texts). Not in the ORM model:
  it is kept by triggers alone, whatever writes the rows, as SQLite's index tables are.
  A revision inserted is flagged by one statement-level trigger (a batch of sends
  inserts hundreds in one statement); its text or message updated, by a row trigger;
  a message's text updated (an edit, a delete, a purge), its revisions re-flagged. (A
  revision is never written before its message here: its foreign key is immediate.)
- The revisions' trigram and grams indexes are partial, ``WHERE superseded``; a current
  text is found through the message's own indexes, so the auditor's search asks both
  (chat/store/search.py) and still finds every revision.

SQLite is unchanged (alembic 0008 does this there). The upgrade flags the revisions that
differ (few: edits and deletes) with progress and gathers the table's statistics; the
downgrade indexes every revision again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from alembic import context, op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 50_000
INDEXES = {
    "ix_message_revisions_body_trgm": "body gin_trgm_ops",
    "ix_message_revisions_body_grams": "tsunagu_search_grams(body)",
}

_DIFFERS = ("NOT EXISTS (SELECT 1 FROM messages AS m "
            "WHERE m.id = {row}.message_id AND m.body = {row}.body)")

FUNCTIONS = {
    # A statement's new revisions, all at once; the usual answer (each is its message's
    # text) changes no row.
    "tsunagu_revisions_inserted": (
        "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "UPDATE message_revisions AS r SET superseded = true FROM inserted AS i "
        f"WHERE r.id = i.id AND NOT r.superseded AND {_DIFFERS.format(row='i')}; "
        "RETURN NULL; END $$"),
    "tsunagu_revision_changed": (
        "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"NEW.superseded := {_DIFFERS.format(row='NEW')}; RETURN NEW; END $$"),
    "tsunagu_message_text_changed": (
        "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "UPDATE message_revisions SET superseded = (body <> NEW.body) "
        "WHERE message_id = NEW.id AND superseded = (body = NEW.body); "
        "RETURN NULL; END $$"),
}

TRIGGERS = {
    "message_revisions_superseded_ai": (
        "AFTER INSERT ON message_revisions REFERENCING NEW TABLE AS inserted "
        "FOR EACH STATEMENT EXECUTE FUNCTION tsunagu_revisions_inserted()"),
    "message_revisions_superseded_bu": (
        "BEFORE UPDATE OF message_id, body ON message_revisions "
        "FOR EACH ROW EXECUTE FUNCTION tsunagu_revision_changed()"),
    "messages_superseded_au": (
        "AFTER UPDATE OF body ON messages FOR EACH ROW "
        "WHEN (OLD.body IS DISTINCT FROM NEW.body) "
        "EXECUTE FUNCTION tsunagu_message_text_changed()"),
}


def _flag_existing() -> None:
    """Flag the revisions already written whose text differs, in batches of ids."""
    bind = op.get_bind()
    low, high = bind.exec_driver_sql("SELECT min(id), max(id) FROM message_revisions").one()
    if low is None:
        return
    say = context.config.print_stdout
    say(f"  flagging superseded revisions ({high - low + 1:,} ids)")
    started = reported = time.monotonic()
    flagged = 0
    for start in range(low, high + 1, BATCH):
        flagged += bind.exec_driver_sql(
            "UPDATE message_revisions AS s SET superseded = true "
            f"WHERE s.id >= {start} AND s.id < {start + BATCH} "
            f"AND {_DIFFERS.format(row='s')}").rowcount
        now = time.monotonic()
        if now - reported >= 10 or start + BATCH > high:
            reported = now
            say(f"  revisions up to id {min(start + BATCH - 1, high):,}: "
                f"{flagged:,} superseded ({now - started:.0f} s)")


def _create_indexes(where: str) -> None:
    for name, expression in INDEXES.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON message_revisions USING gin ({expression}) "
                   f"{where}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE message_revisions "
               "ADD COLUMN superseded boolean NOT NULL DEFAULT false")
    for name, body in FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() {body}")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    _flag_existing()
    _create_indexes("WHERE superseded")
    # The planner's share of superseded revisions (few), and the new indexes'
    # statistics: without them the auditor's search plans as if half were.
    op.execute("ANALYZE message_revisions")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    context.config.print_stdout("  indexing every revision for search again")
    _create_indexes("")
    for name, body in TRIGGERS.items():
        table = body.split(" ON ")[1].split()[0]
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.execute("ALTER TABLE message_revisions DROP COLUMN superseded")
