"""search grams: a revision's text is indexed only once its message no longer holds it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Every message is sent with its first revision, the same text, and 0007 indexed both: on
SQLite the revision's grams were ~40 % of a send's database work (docs/performance.md,
(d)). From here ``message_revisions_grams`` holds a revision only while its text differs
from its message's current text (an edited-away text, a deleted message's texts), or
while no message row with its id exists; a current text is found in ``messages_grams``,
so the auditor's search asks both (chat/store/search.py) and still misses nothing.

Triggers keep that in SQL alone, like 0007's, whatever writes the rows:
- a revision inserted, deleted or updated: indexed, forgotten, or both, where its text
  differs from its message's;
- a message's text updated (an edit, a delete, a purge): its revisions with the old text
  are indexed, those with the new text forgotten;
- a message inserted (a load that writes revisions first): its revisions with its text
  forgotten; a message about to be deleted: its revisions with its text indexed (they
  are about to differ, and a cascade deletes them before an AFTER trigger would run).
A contentless table forgets a row only given exactly the tokens it was given, and a
revision's tokens depend on its text alone, so each 'delete' matches its earlier insert.

PostgreSQL is unchanged: an expression index cannot look at another table, and GIN
insertion is cheap there (its pending list).

The upgrade empties the table and indexes the revisions that differ (few: edits and
deletes), with progress; the downgrade restores 0007's triggers and indexes every
revision again.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import context, op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "message_revisions_grams"
BATCH = 50_000


def _frozen_0007() -> ModuleType:
    """Alembic 0007, whose token expression this index keeps (frozen there)."""
    path = Path(__file__).with_name("0007_search_grams.py")
    spec = importlib.util.spec_from_file_location("tsunagu_alembic_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0007 = _frozen_0007()
_ROWID = f"({{row}}.message_id * {1 << _0007.REVISION_BITS} + {{row}}.revision)"
_TOKENS = _0007._grams_sql("{row}.body")


def _differs(row: str) -> str:
    """``row``'s text is not its message's current text (or it has no message)."""
    return f"{row}.body IS NOT (SELECT m.body FROM messages AS m WHERE m.id = {row}.message_id)"


def _index(row: str, source: str = "", where: str = "") -> str:
    return (f"INSERT INTO {TABLE}(rowid, grams) SELECT "
            f"{_ROWID.format(row=row)}, {_TOKENS.format(row=row)} {source} WHERE {where};")


def _forget(row: str, source: str = "", where: str = "") -> str:
    return (f"INSERT INTO {TABLE}({TABLE}, rowid, grams) SELECT 'delete', "
            f"{_ROWID.format(row=row)}, {_TOKENS.format(row=row)} {source} WHERE {where};")


_REVISIONS_OF = "FROM message_revisions AS r"

# 0007's triggers on message_revisions keep their names; the ones on messages are new.
TRIGGERS = {
    f"{TABLE}_ai": (
        f"AFTER INSERT ON message_revisions BEGIN {_index('new', where=_differs('new'))} END"),
    f"{TABLE}_ad": (
        f"AFTER DELETE ON message_revisions BEGIN {_forget('old', where=_differs('old'))} END"),
    f"{TABLE}_au": (
        "AFTER UPDATE OF message_id, revision, body ON message_revisions BEGIN "
        f"{_forget('old', where=_differs('old'))} {_index('new', where=_differs('new'))} END"),
    f"{TABLE}_messages_ai": (
        "AFTER INSERT ON messages BEGIN "
        f"{_forget('r', _REVISIONS_OF, 'r.message_id = new.id AND r.body = new.body')} END"),
    # Before, not after: a cascade deletes the revisions between the message's delete
    # and its AFTER triggers, and they must be indexed by then, as differing from a
    # message that is gone.
    f"{TABLE}_messages_bd": (
        "BEFORE DELETE ON messages BEGIN "
        f"{_index('r', _REVISIONS_OF, 'r.message_id = old.id AND r.body = old.body')} END"),
    # Messages keep their ids (never updated), so only the text is watched.
    f"{TABLE}_messages_au": (
        "AFTER UPDATE OF body ON messages WHEN old.body IS NOT new.body BEGIN "
        f"{_index('r', _REVISIONS_OF, 'r.message_id = new.id AND r.body = old.body')} "
        f"{_forget('r', _REVISIONS_OF, 'r.message_id = new.id AND r.body = new.body')} END"),
}


def _reindex(where: str) -> None:
    """Empty the index, then index the revisions ``where`` allows, in batches."""
    bind = op.get_bind()
    bind.exec_driver_sql(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")
    low, high = bind.exec_driver_sql("SELECT min(id), max(id) FROM message_revisions").one()
    if low is None:
        return
    say = context.config.print_stdout
    say(f"  re-indexing the revisions for short-word search ({high - low + 1:,} ids)")
    started = reported = time.monotonic()
    indexed = 0
    for start in range(low, high + 1, BATCH):
        indexed += bind.exec_driver_sql(
            f"INSERT INTO {TABLE}(rowid, grams) SELECT {_ROWID.format(row='s')}, "
            f"{_TOKENS.format(row='s')} FROM message_revisions AS s "
            f"WHERE s.id >= {start} AND s.id < {start + BATCH} AND {where}").rowcount
        now = time.monotonic()
        if now - reported >= 10 or start + BATCH > high:
            reported = now
            say(f"  revisions up to id {min(start + BATCH - 1, high):,}: "
                f"{indexed:,} indexed ({now - started:.0f} s)")


def _drop_triggers() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop_triggers()
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    _reindex(_differs("s"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop_triggers()
    for statement in _0007._sqlite_triggers():
        if " ON message_revisions " in statement:
            op.execute(statement)
    _reindex("1")
