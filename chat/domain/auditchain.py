"""The audit log's hash chain and checkpoint signatures: pure functions, no I/O.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical
content (compact JSON, sorted keys, UTF-8), so changing any stored field, deleting an
entry or swapping two changes a hash that later entries, and signed checkpoints, depend
on. A checkpoint signs ``seq`` and ``hash`` of the head with Ed25519 (RFC 8032); since
migration 0019 also its own number and the previous checkpoint's digest (a chain of them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


# --- chained checkpoints (v2) ---------------------------------------------------------
# A v2 checkpoint also signs its own number (1, 2, 3, … without gaps) and the digest of
# the checkpoint before it, so deleting one in the middle breaks the next one's link,
# and every checkpoint is named by an ``audit.checkpointed`` entry in the chain itself,
# so deleting the newest (or all of them) leaves an entry naming a missing checkpoint.
# Checkpoints signed before migration 0019 have no number: they verify the v1 way and
# the first v2 checkpoint links to the newest of them.
_CHAINED_LABEL = b"tsunagu/audit-checkpoint/v2\n"


def _chained_message(number: int, seq: int, head_hash: str, prev_digest: str) -> bytes:
    return _CHAINED_LABEL + f"{number}:{seq}:{head_hash}:{prev_digest}".encode("ascii")


def checkpoint_digest(number: int | None, seq: int, head_hash: str,
                      prev_digest: str | None) -> str:
    """What the next checkpoint links to: SHA-256 of what this one signed."""
    message = (_checkpoint_message(seq, head_hash) if number is None or prev_digest is None
               else _chained_message(number, seq, head_hash, prev_digest))
    return hashlib.sha256(message).hexdigest()


def sign_chained_checkpoint(key: Ed25519PrivateKey, number: int, seq: int, head_hash: str,
                            prev_digest: str) -> str:
    return base64.b64encode(
        key.sign(_chained_message(number, seq, head_hash, prev_digest))).decode("ascii")


def chained_checkpoint_valid(public_key: Ed25519PublicKey, number: int, seq: int,
                             head_hash: str, prev_digest: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True),
                          _chained_message(number, seq, head_hash, prev_digest))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- what the chain says about each message ---------------------------------------------
# The time a message entry was sealed is the chain's word for when the message was
# created, edited or deleted. The row's own time is taken in the same transaction a
# moment earlier; a slack this wide covers that and nothing a retention period cares about.
SEALED_TIME_SLACK = timedelta(minutes=5)


def times_agree(stored: datetime | None, sealed: datetime | None) -> bool:
    if stored is None or sealed is None:
        return stored is None and sealed is None
    return abs(stored - sealed) <= SEALED_TIME_SLACK


class RecordedMessage:
    """What the sealed ``message.*`` entries say one message's current state must be."""

    __slots__ = (
        "channel_id",
        "created_at",
        "deleted_at",
        "edited_at",
        "revision",
        "sender_id",
        "sender_known",
    )

    def __init__(self) -> None:
        self.channel_id: int | None = None
        self.created_at: datetime | None = None
        self.sender_id: int | None = None
        self.sender_known = False
        self.revision = 0
        self.deleted_at: datetime | None = None
        self.edited_at: datetime | None = None

    def note(self, action: str, occurred_at: datetime, data: dict[str, object]) -> None:
        """Fold in one entry (``data`` its detail): created, edited or deleted."""
        revision = int(str(data.get("revision", 0)))
        channel = data.get("channel_id")
        if action == "message.created":
            self.created_at = occurred_at
            if channel is not None:
                self.channel_id = int(str(channel))
            # Entries written before sender_id was recorded vouch for no sender.
            if "sender_id" in data:
                self.sender_known = True
                sender = data["sender_id"]
                self.sender_id = None if sender is None else int(str(sender))
        elif action == "message.edited":
            self.edited_at = occurred_at
        elif action == "message.deleted":
            self.deleted_at = occurred_at
        self.revision = max(self.revision, revision)


@dataclass(frozen=True)
class CurrentMessage:
    """A message row as stored, for :func:`message_disagreements`."""

    id: int
    channel_id: int
    sender_id: int | None
    revision: int
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    purged: bool


def message_disagreements(current: CurrentMessage,
                          recorded: RecordedMessage | None) -> list[str]:
    """Where a stored message differs from what its sealed entries say (text is checked
    against the digests separately). A purged message keeps its place and times only."""
    if recorded is None or recorded.created_at is None:
        return ["no message.created entry in the audit log vouches for it"]
    found = []
    if recorded.channel_id is not None and current.channel_id != recorded.channel_id:
        found.append(f"channel {current.channel_id}, the log says {recorded.channel_id}")
    if recorded.sender_known and current.sender_id != recorded.sender_id:
        found.append(f"sender {current.sender_id}, the log says {recorded.sender_id}")
    if not times_agree(current.created_at, recorded.created_at):
        found.append(f"created_at {_moment(current.created_at)}, the log sealed its "
                     f"creation at {_moment(recorded.created_at)}")
    if current.purged:
        return found
    if current.revision != recorded.revision:
        found.append(f"revision {current.revision}, the log records revision "
                     f"{recorded.revision}")
    if current.deleted_at is not None and recorded.deleted_at is None:
        found.append("marked deleted, but no message.deleted entry records a deletion")
    elif current.deleted_at is None and recorded.deleted_at is not None:
        found.append("not deleted, but the log records its deletion")
    elif not times_agree(current.deleted_at, recorded.deleted_at):
        found.append(f"deleted_at {_moment(current.deleted_at)}, the log sealed the "
                     f"deletion at {_moment(recorded.deleted_at)}")
    if current.edited_at is not None and recorded.edited_at is None:
        found.append("marked edited, but no message.edited entry records an edit")
    elif current.edited_at is None and recorded.edited_at is not None:
        found.append("not marked edited, but the log records an edit")
    elif current.edited_at is not None and not times_agree(current.edited_at,
                                                           recorded.edited_at):
        found.append(f"edited_at {_moment(current.edited_at)}, the log sealed the last "
                     f"edit at {_moment(recorded.edited_at)}")
    return found


def _moment(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- anchors: checkpoints kept outside the database ---------------------------------------

@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint as written out (``tsunagu audit anchor``, the anchor file)."""

    number: int | None
    seq: int
    hash: str
    prev_digest: str | None
    signed_at: str
    key_id: str
    signature: str

    def to_json(self) -> str:
        return json.dumps({"number": self.number, "seq": self.seq, "hash": self.hash,
                           "prev_digest": self.prev_digest, "signed_at": self.signed_at,
                           "key_id": self.key_id, "signature": self.signature},
                          sort_keys=True)

    def valid(self, public_key: Ed25519PublicKey) -> bool:
        if self.number is None or self.prev_digest is None:
            return checkpoint_valid(public_key, self.seq, self.hash, self.signature)
        return chained_checkpoint_valid(public_key, self.number, self.seq, self.hash,
                                        self.prev_digest, self.signature)

    def label(self) -> str:
        name = f"#{self.number}" if self.number is not None else "(unnumbered)"
        return f"anchored checkpoint {name} at entry {self.seq}"


def parse_anchors(text: str) -> list[Anchor]:
    """One anchor (a JSON object, pretty-printed or not) or JSON Lines of them.
    ValueError names what is wrong."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("no anchor in the file")
    try:
        whole = json.loads(stripped)
        items = whole if isinstance(whole, list) else [whole]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON or JSON Lines: {error}") from None
    anchors = []
    for item in items:
        try:
            anchors.append(Anchor(
                number=None if item.get("number") is None else int(item["number"]),
                seq=int(item["seq"]), hash=str(item["hash"]),
                prev_digest=(None if item.get("prev_digest") is None
                             else str(item["prev_digest"])),
                signed_at=str(item.get("signed_at", "")), key_id=str(item.get("key_id", "")),
                signature=str(item["signature"])))
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ValueError(f"not an anchor: {str(item)[:80]}") from None
    return anchors
