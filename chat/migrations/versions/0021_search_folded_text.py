"""search folds width and kana: each text's fold stored beside it, and indexed instead

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

ｶﾀｶﾅ, カタカナ and かたかな, ＡＢＣ and abc, 03-1234-5678 and 0312345678 must find each
other (issue 27). The fold is one Python function (chat/domain/search_fold.py: NFKC,
lowercase, katakana to hiragana, hyphens between digits removed); SQLite cannot run it
in a trigger without a function registered on every connection (the sqlite3 shell, a
restore), so the application stores it: ``messages.search_text`` and
``message_revisions.search_text``, written with the text (the ORM sets it whenever a
body is set; the send path's multi-row inserts add it in the repository).

Every search index now holds ``coalesce(search_text, body)``: the fold, or, for a row
written without one (a bulk load, the sqlite3 shell), the text itself as before. A
writer outside the application that changes a ``body`` must set ``search_text`` to NULL
(or to the fold) in the same statement: the database cannot tell a stale fold from a
text whose fold did not change (ｶﾀｶﾅ edited to カタカナ).

- SQLite: ``messages_fts`` becomes contentless (its content, the fold, is no column the
  FTS table could read back), and the triggers of 0008 and 0009 are recreated over the
  fold; the three FTS tables are rebuilt. Messages noted as not indexed yet stay noted.
- PostgreSQL: the trigram and grams GIN indexes of both tables are rebuilt on the
  expression (the revisions' still partial, ``WHERE superseded``).

Not expand-only: the previous release's searches ask ``body`` and would find no index
on PostgreSQL, and its edits would leave a stale fold.

The upgrade folds the existing rows in batches of ids, with progress, then rebuilds the
indexes (about 25 s per million rows per index on the benchmark machine). The downgrade
rebuilds them on ``body`` and drops the columns.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import context, op

from chat.domain.search_fold import search_fold

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20_000
FOLDED = "coalesce({row}.search_text, {row}.body)"


def _frozen(name: str) -> ModuleType:
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"tsunagu_alembic_{path.stem}_for_0021", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0007 = _frozen("0007_search_grams.py")
_0008 = _frozen("0008_revision_grams_superseded_only.py")
_0009 = _frozen("0009_index_messages_off_the_send.py")

# --- SQLite ------------------------------------------------------------------------------

_NOTES = _0009.NOTES
_MESSAGE_TOKENS = ("'ch' || {row}.channel_id || ' ' || coalesce("
                   + _0007._grams_sql(FOLDED) + ", '')")
_REVISION_TOKENS = _0007._grams_sql(FOLDED)
_ROWID = _0008._ROWID
_RG = _0008.TABLE  # message_revisions_grams


def _noted(row: str) -> str:
    return f"EXISTS (SELECT 1 FROM {_NOTES} WHERE id = {row}.id)"


def _index_message(row: str, source: str = "", where: str = "1") -> str:
    return (f"INSERT INTO messages_fts(rowid, body) SELECT {row}.id, "
            f"{FOLDED.format(row=row)} {source} WHERE {where}; "
            f"INSERT INTO messages_grams(rowid, grams) SELECT {row}.id, "
            f"{_MESSAGE_TOKENS.format(row=row)} {source} WHERE {where};")


def _forget_message(row: str, where: str) -> str:
    return (f"INSERT INTO messages_fts(messages_fts, rowid, body) "
            f"SELECT 'delete', {row}.id, {FOLDED.format(row=row)} WHERE {where}; "
            f"INSERT INTO messages_grams(messages_grams, rowid, grams) "
            f"SELECT 'delete', {row}.id, {_MESSAGE_TOKENS.format(row=row)} WHERE {where};")


def _index_revision(row: str, source: str = "", where: str = "") -> str:
    return (f"INSERT INTO {_RG}(rowid, grams) SELECT {_ROWID.format(row=row)}, "
            f"{_REVISION_TOKENS.format(row=row)} {source} WHERE {where};")


def _forget_revision(row: str, source: str = "", where: str = "") -> str:
    return (f"INSERT INTO {_RG}({_RG}, rowid, grams) SELECT 'delete', "
            f"{_ROWID.format(row=row)}, {_REVISION_TOKENS.format(row=row)} {source} "
            f"WHERE {where};")


_differs = _0008._differs
_REVISIONS_OF = "FROM message_revisions AS r"

# 0009's and 0008's triggers, the same rules over the fold; a change of the fold alone
# (a row folded after it was written) re-indexes too.
TRIGGERS = {
    f"{_NOTES}_messages_ai": _0009.TRIGGERS[f"{_NOTES}_messages_ai"],
    f"{_NOTES}_messages_ad": (
        f"AFTER DELETE ON messages BEGIN "
        f"{_forget_message('old', 'NOT ' + _noted('old'))} "
        f"DELETE FROM {_NOTES} WHERE id = old.id; END"),
    f"{_NOTES}_messages_au": (
        f"AFTER UPDATE OF channel_id, body, search_text ON messages "
        f"WHEN NOT {_noted('old')} BEGIN "
        f"{_forget_message('old', '1')} {_index_message('new')} END"),
    f"{_NOTES}_messages_bu": _0009.TRIGGERS[f"{_NOTES}_messages_bu"],
    f"{_NOTES}_ad": (
        f"AFTER DELETE ON {_NOTES} BEGIN "
        f"{_index_message('m', 'FROM messages AS m', 'm.id = old.id')} END"),
    f"{_RG}_ai": (
        f"AFTER INSERT ON message_revisions BEGIN "
        f"{_index_revision('new', where=_differs('new'))} END"),
    f"{_RG}_ad": (
        f"AFTER DELETE ON message_revisions BEGIN "
        f"{_forget_revision('old', where=_differs('old'))} END"),
    f"{_RG}_au": (
        "AFTER UPDATE OF message_id, revision, body, search_text ON message_revisions BEGIN "
        f"{_forget_revision('old', where=_differs('old'))} "
        f"{_index_revision('new', where=_differs('new'))} END"),
    f"{_RG}_messages_ai": (
        "AFTER INSERT ON messages BEGIN "
        f"{_forget_revision('r', _REVISIONS_OF, 'r.message_id = new.id AND r.body = new.body')}"
        " END"),
    f"{_RG}_messages_bd": (
        "BEFORE DELETE ON messages BEGIN "
        f"{_index_revision('r', _REVISIONS_OF, 'r.message_id = old.id AND r.body = old.body')}"
        " END"),
    f"{_RG}_messages_au": (
        "AFTER UPDATE OF body ON messages WHEN old.body IS NOT new.body BEGIN "
        f"{_index_revision('r', _REVISIONS_OF, 'r.message_id = new.id AND r.body = old.body')} "
        f"{_forget_revision('r', _REVISIONS_OF, 'r.message_id = new.id AND r.body = new.body')}"
        " END"),
}


def _sqlite_rebuild(triggers: dict[str, str], *, contentless: bool) -> None:
    """Replace the triggers and build the three FTS tables again from the rows."""
    for name in (*TRIGGERS, *_0008.TRIGGERS, *_0009.TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("messages_fts", "messages_grams", _RG):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    content = "content=''" if contentless else "content='messages', content_rowid='id'"
    op.execute(f"CREATE VIRTUAL TABLE messages_fts USING fts5(body, {content}, "
               "tokenize='trigram')")
    for table in ("messages_grams", _RG):
        op.execute(f"CREATE VIRTUAL TABLE {table} USING fts5("
                   "grams, content='', detail=none, columnsize=0)")
    for name, body in triggers.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    say = context.config.print_stdout
    started = time.monotonic()
    folded = FOLDED if contentless else "{row}.body"
    message_tokens = _MESSAGE_TOKENS if contentless else _0009._TOKENS
    revision_tokens = _REVISION_TOKENS if contentless else _0008._TOKENS
    for statement in (
            f"INSERT INTO messages_fts(rowid, body) SELECT s.id, {folded.format(row='s')} "
            f"FROM messages AS s WHERE NOT {_noted('s')}",
            f"INSERT INTO messages_grams(rowid, grams) SELECT s.id, "
            f"{message_tokens.format(row='s')} FROM messages AS s WHERE NOT {_noted('s')}",
            f"INSERT INTO {_RG}(rowid, grams) SELECT {_ROWID.format(row='s')}, "
            f"{revision_tokens.format(row='s')} FROM message_revisions AS s "
            f"WHERE {_differs('s')}"):
        op.get_bind().exec_driver_sql(statement)
        say(f"  search index rebuilt: {statement.split('(')[0][12:]} "
            f"({time.monotonic() - started:.0f} s)")


# --- PostgreSQL ----------------------------------------------------------------------------

# name -> (table, expression, partial); the 0001/0004/0007/0011 indexes they replace.
PG_INDEXES = {
    "ix_messages_search_trgm": ("messages", "({text}) gin_trgm_ops", ""),
    "ix_messages_search_grams": ("messages", "tsunagu_search_grams({text})", ""),
    "ix_message_revisions_search_trgm": ("message_revisions", "({text}) gin_trgm_ops",
                                         "WHERE superseded"),
    "ix_message_revisions_search_grams": ("message_revisions",
                                          "tsunagu_search_grams({text})", "WHERE superseded"),
}
PG_BODY_INDEXES = {
    "ix_messages_body_trgm": "ix_messages_search_trgm",
    "ix_messages_body_grams": "ix_messages_search_grams",
    "ix_message_revisions_body_trgm": "ix_message_revisions_search_trgm",
    "ix_message_revisions_body_grams": "ix_message_revisions_search_grams",
}


def _pg_create(names: dict[str, str], text_of: str) -> None:
    say = context.config.print_stdout
    for name, like in names.items():
        table, expression, partial = PG_INDEXES[like]
        started = time.monotonic()
        op.execute(f"CREATE INDEX {name} ON {table} USING gin "
                   f"({expression.format(text=text_of)}) {partial}")
        say(f"  {name}: built ({time.monotonic() - started:.0f} s)")


# --- both ----------------------------------------------------------------------------------

def _fold_existing(table: str) -> None:
    """Store each row's fold, in batches of ids, with progress."""
    bind = op.get_bind()
    low, high = bind.exec_driver_sql(f"SELECT min(id), max(id) FROM {table}").one()
    if low is None:
        return
    say = context.config.print_stdout
    say(f"  folding the texts of {table} for search ({high - low + 1:,} ids)")
    started = reported = time.monotonic()
    folded = 0
    rows_of = sa.text(f"SELECT id, body FROM {table} WHERE id >= :low AND id < :high")
    update = sa.text(f"UPDATE {table} SET search_text = :folded WHERE id = :id")
    for start in range(low, high + 1, BATCH):
        rows = bind.execute(rows_of, {"low": start, "high": start + BATCH}).all()
        changes = [{"id": i, "folded": search_fold(body)} for i, body in rows]
        if changes:
            bind.execute(update, changes)
        folded += len(changes)
        now = time.monotonic()
        if now - reported >= 10 or start + BATCH > high:
            reported = now
            say(f"  {table} up to id {min(start + BATCH - 1, high):,}: "
                f"{folded:,} folded ({now - started:.0f} s)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in ("messages", "message_revisions"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN search_text TEXT")
    if dialect == "sqlite":
        for name in (*_0008.TRIGGERS, *_0009.TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("messages", "message_revisions"):
        _fold_existing(table)
    if dialect == "sqlite":
        _sqlite_rebuild(TRIGGERS, contentless=True)
    elif dialect == "postgresql":
        for name in PG_BODY_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        _pg_create({name: name for name in PG_INDEXES}, "coalesce(search_text, body)")
        # Statistics for the new expression only where there are rows: analysing an
        # empty table records it as empty, and plans then prepared on it would stay
        # scans as it grows (tests/integration/test_pg_plans.py). With rows, the
        # backfill's updates also wake autovacuum's analyse.
        for table in ("messages", "message_revisions"):
            if op.get_bind().exec_driver_sql(f"SELECT EXISTS (SELECT FROM {table})").scalar():
                op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_rebuild({**_0009.TRIGGERS, **_0008.TRIGGERS}, contentless=False)
    elif dialect == "postgresql":
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        _pg_create(PG_BODY_INDEXES, "body")
    for table in ("messages", "message_revisions"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text")
