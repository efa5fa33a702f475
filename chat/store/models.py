"""The relational model. Alembic migrations must match it (tests/integration/test_migrations.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates
from sqlalchemy.types import TypeDecorator

from chat.domain.kinds import MessageKind
from chat.domain.search_fold import search_fold

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite's INTEGER PRIMARY KEY is the rowid; BIGINT on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns an aware UTC datetime (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Department(Base):
    """A node of the org chart: 部 (bu) → 課 (ka) → 係 (kakari)."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kana: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kana: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="staff")
    extension: Mapped[str | None] = mapped_column(String(32), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Device(Base):
    """A city-issued phone or PC, enrolled with a passkey and a device key.

    ``jkt`` is the RFC 7638 thumbprint of the device key: every session the device holds is
    bound to it, and every request proves possession of the key (DPoP, RFC 9449).
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    # "active" once enrolled; "revoked" for good (a lost phone is enrolled again, anew).
    state: Mapped[str] = mapped_column(String(16), default="active")
    jkt: Mapped[str | None] = mapped_column(String(64), unique=True)
    public_jwk: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(200))


class Passkey(Base):
    """A WebAuthn credential registered on a device at enrollment."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # base64url of the credential id (at most 1023 bytes, WebAuthn §5.1).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    aaguid: Mapped[str] = mapped_column(String(36), default="")
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EnrollmentCode(Base):
    """A one-time, short-lived code that lets one phone enroll for one person.

    Only a keyed digest of the code is stored; ``used_at`` is set once, atomically."""

    __tablename__ = "enrollment_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))


class AuditEvent(Base):
    """A security- or records-relevant event: messages and their revisions, enrollment,
    sign-in, failures, revocation, policy.

    Append-only and hash-chained: ``seq`` numbers entries without gaps, and ``hash`` is
    SHA-256 over the previous entry's hash and this entry's canonical content
    (``chat.audit.chain``), so altering, deleting or reordering entries is detectable."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    subject_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    device_id: Mapped[int | None] = mapped_column(BigInteger)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class AuditHead(Base):
    """The chain's head: one row, locked by every appending transaction, so appends from
    every node form one chain (no forks)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement "the chain had this hash at this seq" (Ed25519), so a third
    party holding the public key can tell the log was not rewritten afterwards."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    # Since migration 0019 checkpoints form a chain: ``number`` counts them 1, 2, 3, …
    # and ``prev_digest`` is the digest of the one before (both signed). None on the
    # checkpoints signed before it, which verify the v1 way (chat.domain.auditchain).
    number: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_digest: Mapped[str | None] = mapped_column(String(64))


class SystemSetting(Base):
    """Settings every node shares and an admin changes at run time (working hours,
    disaster mode), as JSON values."""

    __tablename__ = "system_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))


class AuthSession(Base):
    """A signed-in session. Only a keyed digest of the token is stored."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    # Thumbprint of the device key every request must prove; None only for development
    # sessions, which are refused unless the node allows them.
    jkt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Absolute end; the idle end is last_active_at + the idle timeout.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Indexed: every node sweeps recent revocations each second (chat.hub).
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))


class Channel(Base):
    """A conversation. ``last_seq`` numbers messages without gaps; ``last_version``
    counts every change (create, edit, delete) so clients can catch up on edits."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), unique=True
    )
    # A stable name for channels the system itself maintains ("all-staff").
    slug: Mapped[str | None] = mapped_column(String(32), unique=True)
    # "<low user id>:<high user id>" for direct channels: one per pair.
    direct_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Membership(Base):
    """A user in a channel, with their read position (既読)."""

    __tablename__ = "memberships"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # Why the user is here: "department" and "all_staff" follow the org chart;
    # "manual" was chosen by a person and is never removed by a reshuffle.
    source: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_read_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Web Push stays quiet for a muted channel (a mention still comes through).
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Message(Base):
    """The current state of a message. Its history lives in ``message_revisions``."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "seq", name="uq_messages_channel_seq"),
        UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client"),
        Index("ix_messages_channel_version", "channel_id", "version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    client_id: Mapped[str | None] = mapped_column(String(64))
    # A MessageKind value: what the row is (chat.domain.cards says what each kind keeps).
    kind: Mapped[str] = mapped_column(String(16), default=MessageKind.TEXT.value)
    body: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when retention purged the content: the row stays (seq has no gaps), the text
    # and every revision are gone, and the audit log says which purge took them.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Structured content beside the text, as JSON: the card of a system notice (a missed
    # call, a phone memo; see docs/pbx.md). None for people's text messages.
    data: Mapped[str | None] = mapped_column(Text)
    # The message this one replies to (same channel). A plain id, not a foreign key:
    # message rows are never deleted, and SQLite cannot add a foreign key in place.
    reply_to_id: Mapped[int | None] = mapped_column(BigInteger)
    # The members it mentions, as a JSON list of user ids (fixed when sent).
    mentions: Mapped[str | None] = mapped_column(Text)
    # Pinned to the channel (ピン留め): when and by whom; None when not pinned.
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pinned_by: Mapped[int | None] = mapped_column(BigInteger)
    # search_fold(body), what the search indexes hold (alembic 0021); set with the body.
    search_text: Mapped[str | None] = mapped_column(Text, deferred=True)

    @validates("body")
    def _fold_for_search(self, _key: str, body: str) -> str:
        self.search_text = search_fold(body)
        return body


class MessageRevision(Base):
    """One state of a message: the create, each edit, and the delete. Never updated."""

    __tablename__ = "message_revisions"
    __table_args__ = (
        UniqueConstraint("message_id", "revision", name="uq_message_revisions_message_rev"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # search_fold(body), what the search indexes hold (alembic 0021); set with the body.
    search_text: Mapped[str | None] = mapped_column(Text, deferred=True)

    @validates("body")
    def _fold_for_search(self, _key: str, body: str) -> str:
        self.search_text = search_fold(body)
        return body


class RetentionPolicy(Base):
    """How long messages are kept: for a channel kind, or for one channel (which wins).

    ``keep_years`` None means forever. With no policy at all, nothing is purged."""

    __tablename__ = "retention_policies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_kind: Mapped[str | None] = mapped_column(String(16), unique=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), unique=True)
    keep_years: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))


class LegalHold(Base):
    """A legal hold (訴訟ホールド): while not released, no purge touches the messages it
    covers. It names a person, a channel, a date range, or a combination (all must match)."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    placed_by: Mapped[str] = mapped_column(String(100))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    released_by: Mapped[str | None] = mapped_column(String(100))
    # Confidential: while active, the people whose messages it covers are not shown
    # auditors' reads of them (docs/audit.md, Transparency); after release they are.
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ExportJob(Base):
    """An auditor's export: its filters, progress, and when done the manifest (counts and
    SHA-256 of each file). The files live under ``CHAT_VAR_DIR/exports/<id>/``."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # running | done | failed
    formats: Mapped[str] = mapped_column(String(32))  # "jsonl,csv"
    filters: Mapped[str] = mapped_column(Text)  # JSON
    requested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    requested_by: Mapped[str] = mapped_column(String(100))
    # The auditor's stated reason (required over HTTP; the CLI may omit it).
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest: Mapped[str | None] = mapped_column(Text)  # JSON, when done
    error: Mapped[str | None] = mapped_column(Text)
    # The node that runs it and holds its files, and when its runner last said it was
    # alive (every few seconds, queued or running): a running job silent for a minute
    # was abandoned by a node that stopped (chat.actions.exports.sweep_exports).
    node_id: Mapped[str | None] = mapped_column(String(64))
    alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- PBX integration (docs/pbx.md) ------------------------------------------------------


class PbxSecret(Base):
    """A shared secret a PBX signs its webhooks with (Standard Webhooks ``whsec_``), or a
    Twilio Auth Token. Several may be active at once (rotation); a retired one is kept
    for the record and never accepted again.

    The server must compute HMACs with it, so it cannot be hashed: it is stored sealed
    (AES-GCM under a key derived from the instance secrets), so a database dump alone
    does not reveal it."""

    __tablename__ = "pbx_secrets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # The name of the PBX format it signs (chat.domain.pbx_formats: "standard", "twilio").
    kind: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_by: Mapped[str | None] = mapped_column(String(100))


class PbxEvent(Base):
    """The PBX event log: every accepted webhook, exactly once per delivery id.

    ``UNIQUE(source, delivery_id)`` makes a PBX's retry of the same delivery a no-op."""

    __tablename__ = "pbx_events"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_pbx_events_source_delivery"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # a PBX format's source (registry)
    delivery_id: Mapped[str] = mapped_column(String(200))
    secret_name: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # "applied" (changed the call), "no_change" (a late or repeated fact), "ignored"
    # (an event type this server does not know).
    outcome: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    payload: Mapped[str] = mapped_column(Text)


class PbxCall(Base):
    """One call as the events so far describe it (``chat.domain.calls``).

    ``presence_until`` is when the call state shown beside a person's name lapses even
    without an end event; every node sweeps the rows past it (indexed)."""

    __tablename__ = "pbx_calls"
    __table_args__ = (
        UniqueConstraint("source", "call_id", name="uq_pbx_calls_source_call"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    extension: Mapped[str | None] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    # The event types seen so far, comma-separated: the state is a function of this set.
    seen: Mapped[str] = mapped_column(String(100))
    ringing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_event_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Whom the call shows on: the user of the extension that rang (or dialled), and for
    # internal calls the calling extension's user too.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    peer_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    presence: Mapped[str | None] = mapped_column(String(16))  # ringing | on_call
    presence_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    notice_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"))


class PbxDirectoryEntry(Base):
    """A number the city knows: an extension (or DID) of a person, a desk-group phone
    bound to a channel, or an outside contact shown by name. Numbers are normalised
    (``chat.domain.numbers``)."""

    __tablename__ = "pbx_directory"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # user | desk | contact
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notice(Base):
    """The follow-up state of a system notice (a missed call, a phone memo): open →
    claimed → done. Claims are conditional updates on this row, so of two racing
    members exactly one wins. The message's ``data`` is the card rendered from it."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_collapse", "channel_id", "caller_number", "target_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # its message's kind (a notice kind)
    caller_number: Mapped[str | None] = mapped_column(String(32))
    # The extension that rang (missed calls): calls collapse per number *and* target.
    target_key: Mapped[str | None] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))  # open | claimed | done
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- the smartphone client: photos, stamps, confirmations, Web Push ------------------------


class Attachment(Base):
    """A photo attached to a message, re-encoded without metadata (``chat.domain.images``),
    with its thumbnail. The bytes live in the database beside the message, so every node
    serves them, backups hold them, and a retention purge removes them in the same
    transaction as the text. ``message_id`` is set when the message is sent; the place
    it was taken is kept here (never in the file) only when the sender chose to share it."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    uploader_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)  # bytes
    # SHA-256 (hex) of the stored image, as recorded in the message.created audit entry.
    sha256: Mapped[str] = mapped_column(String(64))
    thumb_content_type: Mapped[str] = mapped_column(String(32))
    thumb_width: Mapped[int] = mapped_column(Integer)
    thumb_height: Mapped[int] = mapped_column(Integer)
    # Micro-degrees (WGS 84), only when the sender shared the location.
    latitude_e6: Mapped[int | None] = mapped_column(Integer)
    longitude_e6: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Deferred: listing attachments never drags the images along.
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    thumb: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class Reaction(Base):
    """A stamp (スタンプ) a member put on a message; one of each kind per person."""

    __tablename__ = "reactions"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    emoji: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Confirmation(Base):
    """A member's 確認しました on an announcement (全庁通知)."""

    __tablename__ = "confirmations"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PushSubscription(Base):
    """A browser's Web Push subscription (W3C Push API) for one person on one device:
    the push service URL and the keys its messages are encrypted to (RFC 8291)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # None only for development sessions, which have no enrolled device.
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Disaster(Base):
    """A declared disaster or drill (訓練). At most one is active: ``active`` is 1 while it
    is and NULL once ended, under a unique index (NULLs never collide), so two
    declarations racing on two nodes cannot both win."""

    __tablename__ = "disasters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[int | None] = mapped_column(Integer, unique=True)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime())
    declared_by: Mapped[str] = mapped_column(String(100))
    declared_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(100))
    hq_channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"))


class BroadcastGroup(Base):
    """A building/floor group an urgent broadcast can go to (「本庁舎3階」): a name the
    city chose and the announcement channel its members are in (the channel's
    memberships are the group; an admin sets them, ``chat.actions.broadcast``)."""

    __tablename__ = "broadcast_groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))


class Broadcast(Base):
    """An urgent broadcast's repeat state, beside its message. ``next_repeat_at`` is the
    next time those who have not confirmed get it again (NULL: no more repeats);
    ``repeats_done`` is also the guard a node's conditional update checks, so of two
    nodes only one sends a repeat."""

    __tablename__ = "broadcasts"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(40))
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    repeat_every_seconds: Mapped[int] = mapped_column(Integer)
    max_repeats: Mapped[int] = mapped_column(Integer)
    repeats_done: Mapped[int] = mapped_column(Integer, default=0)
    next_repeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- disaster mode: field reports (被害報告) ------------------------------------------------

class FieldReport(Base):
    """A field report's facts and its follow-up on the HQ board (新規 → 確認済 → 対応中 →
    完了). The message (kind ``report``, in the HQ channel) is the card; this row is what
    the board filters and the only place the position is kept (micro-degrees, NULL when
    the person did not attach it)."""

    __tablename__ = "field_reports"
    __table_args__ = (Index("ix_field_reports_disaster", "disaster_id", "message_id"),)

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disasters.id", ondelete="CASCADE"))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text)
    latitude_e6: Mapped[int | None] = mapped_column(Integer)
    longitude_e6: Mapped[int | None] = mapped_column(Integer)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    status_changed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FieldReportPhoto(Base):
    """A photo of a field report, in order. The attachment keeps ``message_id`` NULL
    (that column holds one photo per message); this link is what keeps it from the
    unsent-upload sweep and lets the HQ see it."""

    __tablename__ = "field_report_photos"

    attachment_id: Mapped[int] = mapped_column(
        ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("field_reports.message_id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)


class RollCall(Base):
    """A safety roll call (安否確認) HQ started: its card in the all-staff channel
    (``message_id``), the disaster (or drill) it belongs to, and when it ended."""

    __tablename__ = "roll_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    disaster_id: Mapped[int | None] = mapped_column(
        ForeignKey("disasters.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(String(400))
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    started_by: Mapped[str] = mapped_column(String(100))
    started_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RollCallAnswer(Base):
    """One person's current answer to a roll call (unique per person and roll call;
    answering again replaces it, the audit log keeps the history). The position is
    stored only when the person attached it."""

    __tablename__ = "roll_call_answers"
    __table_args__ = (
        UniqueConstraint("roll_call_id", "user_id", name="uq_roll_call_answers_call_user"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    roll_call_id: Mapped[int] = mapped_column(
        ForeignKey("roll_calls.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(200), default="")
    # Micro-degrees (WGS 84) and metres, only when the person attached the position.
    latitude_e6: Mapped[int | None] = mapped_column(Integer)
    longitude_e6: Mapped[int | None] = mapped_column(Integer)
    accuracy_m: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BusOutboxEvent(Base):
    """An event a process beside the nodes (the CLI) published on the in-process bus,
    for the serving nodes to relay to their clients (chat.bus.outbox). Kept an hour.
    AUTOINCREMENT on SQLite: an id is never reused after the newest rows were pruned,
    or a node that had seen it would skip the next events."""

    __tablename__ = "bus_outbox"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
