"""Backup and restore of a whole instance (docs/backup.md): ``archive`` (the tar file,
its manifest and checksums), ``databases`` (copying SQLite and PostgreSQL out and back),
``make`` (``tsunagu backup``) and ``restore`` (``tsunagu restore``). Above the actions
(it records its own audit entries and verifies the log); the CLI is ``chat/cli/backup.py``.
"""
