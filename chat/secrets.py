"""Instance secrets, generated on first run into a file only its owner can read.

The file lives under ``CHAT_VAR_DIR`` (default ``./var``), which is git-ignored.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class InstanceSecrets:
    # Keys the digest under which session tokens are stored (a database dump alone
    # cannot be used to test guessed tokens).
    session_key: bytes

    @classmethod
    def load_or_create(cls, var_dir: Path) -> InstanceSecrets:
        path = var_dir / SECRETS_FILE
        var_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            data = {"session_key": base64.b64encode(secrets.token_bytes(32)).decode()}
            try:
                # O_EXCL: two processes starting at once must not both write a key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path} must be readable by its owner only (mode {mode:o})")
        data = json.loads(path.read_text())
        return cls(session_key=base64.b64decode(data["session_key"]))
