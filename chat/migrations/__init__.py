"""The Alembic migrations (``env.py``, ``versions/``), inside the package so that a wheel
carries them: ``chat.store.migrations`` points Alembic here, wherever Tsunagu is
installed."""
