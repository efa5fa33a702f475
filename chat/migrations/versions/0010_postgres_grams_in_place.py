"""search grams on PostgreSQL: the same grams, computed in place

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

``tsunagu_search_grams`` (alembic 0007) runs for every message and revision written, for
their grams indexes. It appended to its array twice a character
(``grams := grams || …``); it now starts from the characters and assigns each pair in
place: 23–26 µs against 38–42 µs of the server's time for the benchmark's 43-character
text (10,000 texts), 8 against 14 ms for 10,500 characters (docs/performance.md, (d)).

It returns the same grams in another order, and a GIN index keeps each row's keys as a
set, so the indexes built with the old function stay exact and nothing is rebuilt.
SQLite is unchanged (its grams are computed by its triggers). The downgrade restores
0007's function.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRAMS_FUNCTION = (
    "CREATE OR REPLACE FUNCTION tsunagu_search_grams(body text) RETURNS text[] "
    "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
    "DECLARE chars text[] := string_to_array(lower(body), NULL); "
    "n int := cardinality(chars); grams text[] := chars; "
    "BEGIN "
    "FOR i IN 1..n - 1 LOOP grams[n + i] := chars[i] || chars[i + 1]; END LOOP; "
    "RETURN grams; "
    "END $$")
GRAMS_FUNCTION_0007 = (
    "CREATE OR REPLACE FUNCTION tsunagu_search_grams(body text) RETURNS text[] "
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GRAMS_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GRAMS_FUNCTION_0007)
