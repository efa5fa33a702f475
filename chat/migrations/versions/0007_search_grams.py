"""search grams: an index for one- and two-character words, on messages and revisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

A trigram index matches nothing under three characters (REFERENCES §8), so 窓口 or 雨
scanned the table. This adds an index of every character and every pair of adjacent
characters of the lowercased text ("grams"); a search narrows with it and confirms with
LIKE / ILIKE (chat/store/search.py), so results are exactly a LIKE scan's.

- SQLite: contentless FTS5 tables ``messages_grams`` (rowid = message id; the row also
  holds the message's channel as the token ``ch<id>``) and ``message_revisions_grams``
  (rowid = message id << 20 | revision, so rowid order is message order). A gram is
  spelled in hex (the pair's UTF-8 in hex; ``u`` + hex for a character), a word the
  ``unicode61`` tokenizer keeps whole. Triggers keep the tables in step in SQL alone, so
  any connection may write messages (the sqlite3 shell, a restore, a bulk load) with no
  function to register. SQLite 3.40 has no CTEs in triggers, so positions come from the
  helper table ``search_gram_positions`` (1..16384); a text is read in chunks of 64
  characters, each taken once, because ``substr`` walks from the start of a text:
  per position a 10,000-character message took 159 ms, in chunks 7 ms.
- PostgreSQL: ``tsunagu_search_grams(text)`` (IMMUTABLE) and a GIN expression index on
  it for each table; queries ask ``@> tsunagu_query_grams(word)``.

Existing rows are indexed here: on SQLite in batches, with progress (about 20 s per
million rows on the benchmark machine); on PostgreSQL by one ``CREATE INDEX`` per table
(about 25 s per million rows, writes to that table wait meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from alembic import context, op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the triggers below keep these values for as long as they exist. The query
# side (chat/store/search.py) must build the same tokens; tests/integration/
# test_search_index.py compares both on every backend.
CHUNK = 64
POSITIONS = 16_384  # texts are indexed up to CHUNK * POSITIONS = 1,048,576 characters
REVISION_BITS = 20
BATCH = 50_000


def _grams_sql(text: str) -> str:
    """A SQLite expression: the space-separated tokens of ``text`` (NULL when empty)."""
    # c.chunk holds CHUNK characters plus the next one, so the pair that starts at the
    # chunk's last position is complete; the last chunk has no pair at its end. The
    # LIMIT keeps SQLite from flattening the subquery, which would evaluate the chunk's
    # substr() again for every position.
    return (
        "(SELECT group_concat("
        "CASE WHEN p.i < length(c.chunk) THEN hex(substr(c.chunk, p.i, 2)) || ' ' ELSE '' END"
        " || 'u' || hex(substr(c.chunk, p.i, 1)), ' ')"
        f" FROM (SELECT lower(substr({text}, (k.i - 1) * {CHUNK} + 1, {CHUNK + 1})) AS chunk"
        "        FROM search_gram_positions AS k"
        f"       WHERE k.i <= (length({text}) + {CHUNK - 1}) / {CHUNK}"
        f"       LIMIT {POSITIONS}) AS c"
        " JOIN search_gram_positions AS p"
        f" ON p.i <= min({CHUNK}, length(c.chunk)))"
    )


# Each SQLite index: (table, source table, the source row's rowid in the index, what is
# indexed, the columns those read). A message's row also holds its channel as the token
# ``ch<id>`` (not hex: ``h`` is no hex digit), so a person's search asks only for their
# channels and never walks the matches of channels they cannot see.
_SQLITE_INDEXES = (
    ("messages_grams", "messages", "{row}.id",
     "'ch' || {row}.channel_id || ' ' || coalesce(" + _grams_sql("{row}.body") + ", '')",
     "id, channel_id, body"),
    ("message_revisions_grams", "message_revisions",
     f"({{row}}.message_id * {1 << REVISION_BITS} + {{row}}.revision)",
     _grams_sql("{row}.body"), "message_id, revision, body"),
)


def _sqlite_triggers() -> list[str]:
    statements = []
    for table, source, rowid, tokens, watched in _SQLITE_INDEXES:
        def add(row: str, table: str = table, rowid: str = rowid, tokens: str = tokens) -> str:
            return (f"INSERT INTO {table}(rowid, grams) VALUES "
                    f"({rowid.format(row=row)}, {tokens.format(row=row)});")

        def remove(row: str, table: str = table, rowid: str = rowid,
                   tokens: str = tokens) -> str:
            # A contentless table forgets a row given exactly the tokens it was given.
            return (f"INSERT INTO {table}({table}, rowid, grams) VALUES ('delete', "
                    f"{rowid.format(row=row)}, {tokens.format(row=row)});")

        statements += [
            f"CREATE TRIGGER {table}_ai AFTER INSERT ON {source} BEGIN {add('new')} END",
            f"CREATE TRIGGER {table}_ad AFTER DELETE ON {source} BEGIN {remove('old')} END",
            # An edit rewrites messages.body; a purge empties it and deletes revisions.
            f"CREATE TRIGGER {table}_au AFTER UPDATE OF {watched} ON {source} BEGIN "
            f"{remove('old')} {add('new')} END",
        ]
    return statements


def _backfill_sqlite(table: str, source: str, rowid: str, tokens: str) -> None:
    bind = op.get_bind()
    low, high = bind.exec_driver_sql(f"SELECT min(id), max(id) FROM {source}").one()
    if low is None:
        return
    total = bind.exec_driver_sql(f"SELECT count(*) FROM {source}").scalar_one()
    say = context.config.print_stdout
    say(f"  indexing {total:,} rows of {source} for short-word search")
    started = reported = time.monotonic()
    done = 0
    for start in range(low, high + 1, BATCH):
        done += bind.exec_driver_sql(
            f"INSERT INTO {table}(rowid, grams) "
            f"SELECT {rowid.format(row='s')}, {tokens.format(row='s')} FROM {source} AS s "
            f"WHERE s.id >= {start} AND s.id < {start + BATCH}").rowcount
        now = time.monotonic()
        if now - reported >= 10 or start + BATCH > high:
            reported = now
            say(f"  {source}: {done:,} / {total:,} ({now - started:.0f} s)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE TABLE search_gram_positions (i INTEGER PRIMARY KEY)")
        op.get_bind().exec_driver_sql(
            "INSERT INTO search_gram_positions (i) VALUES (?)",
            [(i,) for i in range(1, POSITIONS + 1)])
        for table in ("messages_grams", "message_revisions_grams"):
            op.execute(f"CREATE VIRTUAL TABLE {table} USING fts5("
                       "grams, content='', detail=none, columnsize=0)")
        for statement in _sqlite_triggers():
            op.execute(statement)
        for table, source, rowid, tokens, _ in _SQLITE_INDEXES:
            _backfill_sqlite(table, source, rowid, tokens)
    elif dialect == "postgresql":
        # Every character and every adjacent pair of lower(text). lower() is the one
        # ILIKE applies (per character, in the database's LC_CTYPE), so a text that is
        # ILIKE '%w%' always holds w's grams. Repeats are left in: GIN keeps a key once
        # per row. PL/pgSQL arrays are expanded in place, so this is linear in the
        # length: 4.7 µs per benchmark message, 9 ms for 10,500 characters (a SQL
        # version with unnest/lead/DISTINCT took 30 µs; one with substr() per position
        # 881 ms for the long text, as substr() walks from the start).
        op.execute(
            "CREATE FUNCTION tsunagu_search_grams(body text) RETURNS text[] "
            "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
            "DECLARE chars text[] := string_to_array(lower(body), NULL); "
            "n int := cardinality(chars); grams text[] := '{}'; "
            "BEGIN "
            "FOR i IN 1..n LOOP "
            "grams := grams || chars[i]; "
            "IF i < n THEN grams := grams || (chars[i] || chars[i + 1]); END IF; "
            "END LOOP; "
            "RETURN grams; "
            "END $$")
        # What a search asks for: its character, or its distinct pairs.
        op.execute(
            "CREATE FUNCTION tsunagu_query_grams(word text) RETURNS text[] "
            "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
            "SELECT CASE WHEN char_length(word) < 2 THEN "
            "  CASE WHEN word = '' THEN '{}'::text[] ELSE ARRAY[lower(word)] END "
            "ELSE ARRAY(SELECT DISTINCT substr(lower(word), i, 2) "
            "           FROM generate_series(1, char_length(word) - 1) AS i) END $$")
        say = context.config.print_stdout
        for table, index in (("messages", "ix_messages_body_grams"),
                             ("message_revisions", "ix_message_revisions_body_grams")):
            total = op.get_bind().exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            started = time.monotonic()
            if total:
                say(f"  indexing {total:,} rows of {table} for short-word search")
            op.execute(f"CREATE INDEX {index} ON {table} USING gin (tsunagu_search_grams(body))")
            if total:
                say(f"  {table}: done ({time.monotonic() - started:.0f} s)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in ("messages_grams", "message_revisions_grams"):
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}")
        op.execute("DROP TABLE IF EXISTS search_gram_positions")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_message_revisions_body_grams")
        op.execute("DROP INDEX IF EXISTS ix_messages_body_grams")
        op.execute("DROP FUNCTION IF EXISTS tsunagu_query_grams(text)")
        op.execute("DROP FUNCTION IF EXISTS tsunagu_search_grams(text)")
