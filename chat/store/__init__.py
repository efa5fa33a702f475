"""Storage: SQLAlchemy models, repositories (all queries live here) and the unit of work."""
