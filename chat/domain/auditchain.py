"""The audit log's hash chain and checkpoint signatures: pure functions, no I/O.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical
content (compact JSON, sorted keys, UTF-8), so changing any stored field, deleting an
entry or swapping two changes a hash that later entries, and signed checkpoints, depend
on. A checkpoint signs ``seq`` and ``hash`` of the head with Ed25519 (RFC 8032).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

GENESIS_HASH = "0" * 64
_CHECKPOINT_LABEL = b"tsunagu/audit-checkpoint/v1\n"
# The canonical form's encoder, made once (json.dumps with arguments builds one a call).
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False)


@dataclass(frozen=True)
class EntryContent:
    """What an entry's hash covers: every stored field but the hashes themselves."""

    seq: int
    occurred_at: datetime
    action: str
    outcome: str
    actor_user_id: int | None
    subject_user_id: int | None
    device_id: int | None
    session_id: int | None
    remote_addr: str | None
    detail: str

    def canonical(self) -> bytes:
        moment = self.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return _CANONICAL_ENCODER.encode({
            "seq": self.seq, "occurred_at": moment, "action": self.action,
            "outcome": self.outcome, "actor_user_id": self.actor_user_id,
            "subject_user_id": self.subject_user_id, "device_id": self.device_id,
            "session_id": self.session_id, "remote_addr": self.remote_addr,
            "detail": self.detail,
        }).encode("utf-8")


def entry_hash(prev_hash: str, content: EntryContent) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content.canonical()).hexdigest()


def body_digest(body: str) -> str:
    """What the log keeps of a message's text: its SHA-256, never the text."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# --- checkpoints ----------------------------------------------------------------------

def _checkpoint_message(seq: int, head_hash: str) -> bytes:
    return _CHECKPOINT_LABEL + f"{seq}:{head_hash}".encode("ascii")


def signing_key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed[:32])


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for the key (SHA-256 of its raw bytes, hex, 16 chars)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head_hash: str) -> str:
    return base64.b64encode(key.sign(_checkpoint_message(seq, head_hash))).decode("ascii")


def checkpoint_valid(public_key: Ed25519PublicKey, seq: int, head_hash: str,
                     signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True),
                          _checkpoint_message(seq, head_hash))
    except (InvalidSignature, ValueError):
        return False
    return True
