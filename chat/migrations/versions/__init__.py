"""One module per schema revision (Alembic loads them by path; see docs/store.md)."""
