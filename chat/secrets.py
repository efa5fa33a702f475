"""Instance secrets, generated once into a file only its owner can read.

The file lives under ``CHAT_VAR_DIR`` (default ``./var``), which is git-ignored. Nodes of
one deployment share it (the same file on each node), so a session, a DPoP nonce or a
WebAuthn challenge issued by one node is accepted by the others. ``tsunagu migrate``
writes it for a new instance; every other command refuses to run without it
(``chat.cli.common.instance_problem``) rather than make a second, different one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SECRETS_FILE = "secrets.json"
KEY_NAMES = ("session_key", "dpop_nonce_key", "challenge_key", "audit_signing_key",
             "vapid_key")


@dataclass(frozen=True)
class InstanceSecrets:
    # Keys the digest under which session tokens and enrollment codes are stored (a
    # database dump alone cannot be used to test guessed tokens).
    session_key: bytes
    # MACs the server's DPoP nonces (RFC 9449 §8), so any node can check them statelessly.
    dpop_nonce_key: bytes
    # MACs WebAuthn challenges, so they need no server-side storage between the options
    # and the response.
    challenge_key: bytes
    # The Ed25519 seed that signs audit checkpoints (its public key is exported for
    # third parties: ``tsunagu audit public-key``).
    audit_signing_key: bytes
    # The P-256 private scalar of the Web Push application server key (VAPID, RFC 8292);
    # the public half is what browsers subscribe with (``GET /api/push/key``).
    vapid_key: bytes

    @classmethod
    def load_or_create(cls, var_dir: Path) -> InstanceSecrets:
        path = var_dir / SECRETS_FILE
        var_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            try:
                # O_EXCL: two processes starting at once must not both write a key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    json.dump(_new_keys(KEY_NAMES), fh)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path} must be readable by its owner only (mode {mode:o})")
        data = json.loads(path.read_text())
        missing = [name for name in KEY_NAMES if name not in data]
        if missing:
            # A file from an older release: add the new keys, keep the old ones.
            data.update(_new_keys(missing))
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(temporary, path)
            data = json.loads(path.read_text())
        return cls(**{name: base64.b64decode(data[name]) for name in KEY_NAMES})


def _new_keys(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {name: base64.b64encode(secrets.token_bytes(32)).decode() for name in names}
