"""search indexes: a new message is indexed by a statement of its own, not by its insert

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

On SQLite a message's insert fired the triggers that index its text for search: the
trigram table (0001) and the grams table (0007), ~70 % of SQLite's work for a send
(docs/performance.md, (a)). The send path runs its statements on the event loop's
thread (chat/store/sqlite_inline.py), so that work held up every connection of the
node. Now an insert only notes the message in ``messages_unindexed``; deleting that
note indexes the message, in SQL alone, and the send path does so in its own
transaction with one statement it hands to a worker thread (SQLite releases the GIL
while it works). Triggers still see every write, whoever makes it (the sqlite3 shell,
a restore, a bulk load): a message is always either indexed or noted, never neither,
and the searches read the noted ones with a scan (chat/store/search.py), so results
stay exactly a LIKE scan's. A noted message's note is dropped with the message, and an
edit, delete or purge of a noted message leaves it noted: the indexes are told only
of what they were given (a contentless or external-content FTS5 table forgets a row
only given exactly what it indexed).

Message ids never change (0008 relies on it too); an update of one is now refused, as
the note would otherwise lose its message.

PostgreSQL is unchanged: its indexes are maintained by the database server's process.
Nothing is noted at upgrade (every existing message is indexed); the downgrade indexes
the noted messages and restores 0001's and 0007's triggers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTES = "messages_unindexed"


def _frozen_0007() -> ModuleType:
    """Alembic 0007, whose token expression this index keeps (frozen there)."""
    path = Path(__file__).with_name("0007_search_grams.py")
    spec = importlib.util.spec_from_file_location("tsunagu_alembic_0007_for_0009", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0007 = _frozen_0007()
# messages_grams' tokens of a message row: its channel and its text's grams (0007).
_TOKENS = _0007._SQLITE_INDEXES[0][3]
assert _0007._SQLITE_INDEXES[0][0] == "messages_grams"


def _noted(row: str) -> str:
    return f"EXISTS (SELECT 1 FROM {NOTES} WHERE id = {row}.id)"


def _index(row: str, source: str = "", where: str = "1") -> str:
    return (f"INSERT INTO messages_fts(rowid, body) SELECT {row}.id, {row}.body "
            f"{source} WHERE {where}; "
            f"INSERT INTO messages_grams(rowid, grams) SELECT {row}.id, "
            f"{_TOKENS.format(row=row)} {source} WHERE {where};")


def _forget(row: str, where: str) -> str:
    return (f"INSERT INTO messages_fts(messages_fts, rowid, body) "
            f"SELECT 'delete', {row}.id, {row}.body WHERE {where}; "
            f"INSERT INTO messages_grams(messages_grams, rowid, grams) "
            f"SELECT 'delete', {row}.id, {_TOKENS.format(row=row)} WHERE {where};")


TRIGGERS = {
    f"{NOTES}_messages_ai": (
        f"AFTER INSERT ON messages BEGIN INSERT INTO {NOTES}(id) VALUES (new.id); END"),
    # An indexed message's text leaves the indexes with it; a noted one's note goes.
    f"{NOTES}_messages_ad": (
        f"AFTER DELETE ON messages BEGIN {_forget('old', 'NOT ' + _noted('old'))} "
        f"DELETE FROM {NOTES} WHERE id = old.id; END"),
    # An edit, a delete (its text emptied) or a purge of an indexed message.
    f"{NOTES}_messages_au": (
        f"AFTER UPDATE OF channel_id, body ON messages WHEN NOT {_noted('old')} BEGIN "
        f"{_forget('old', '1')} {_index('new')} END"),
    f"{NOTES}_messages_bu": (
        "BEFORE UPDATE OF id ON messages WHEN old.id IS NOT new.id BEGIN "
        "SELECT RAISE(ABORT, 'a message id never changes'); END"),
    # Deleting a note indexes its message as it is now (nothing, if it is gone).
    f"{NOTES}_ad": (
        f"AFTER DELETE ON {NOTES} BEGIN "
        f"{_index('m', 'FROM messages AS m', 'm.id = old.id')} END"),
}

# What 0001 and 0007 had on messages for these two indexes.
_0001_TRIGGERS = (
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF body ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); "
    "INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END",
)
_REPLACED = ("messages_fts_ai", "messages_fts_ad", "messages_fts_au",
             "messages_grams_ai", "messages_grams_ad", "messages_grams_au")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _REPLACED:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"CREATE TABLE {NOTES} (id INTEGER PRIMARY KEY)")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"DELETE FROM {NOTES}")  # indexes every noted message
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE {NOTES}")
    for statement in _0001_TRIGGERS:
        op.execute(statement)
    for statement in _0007._sqlite_triggers():
        if " ON messages " in statement:
            op.execute(statement)
