"""Domain errors with stable codes, mapped once to HTTP statuses and websocket frames."""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error a client may see. ``code`` is stable; ``message`` is for humans."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message

    default_message = "Internal error"

    def details(self) -> dict[str, str | int]:
        """Extra fields for the JSON error and the error frame (e.g. ``message_ja``)."""
        return {}


class BadRequest(ChatError):
    code = "bad_request"
    http_status = 400
    default_message = "The request is malformed"


class InvalidFrame(BadRequest):
    code = "invalid_frame"
    default_message = "The frame is not valid"


class MalformedJson(BadRequest):
    code = "malformed_json"
    default_message = "The body is not valid JSON"


class UnknownFrameType(BadRequest):
    code = "unknown_frame_type"
    default_message = "Unknown frame type"


class FrameTooLarge(ChatError):
    code = "frame_too_large"
    http_status = 413
    default_message = "The frame exceeds the size limit"


class BodyTooLarge(ChatError):
    code = "body_too_large"
    http_status = 413
    default_message = "The request body exceeds the size limit"


class MessageTooLong(BadRequest):
    code = "message_too_long"
    default_message = "The message is too long"


class Unauthenticated(ChatError):
    code = "unauthenticated"
    http_status = 401
    default_message = "A valid session is required"


class Forbidden(ChatError):
    code = "forbidden"
    http_status = 403
    default_message = "Not allowed"


class DevSessionsDisabled(Forbidden):
    code = "dev_sessions_disabled"
    default_message = "Development sessions are disabled on this server"


class NotAMember(Forbidden):
    code = "not_a_member"
    default_message = "You are not a member of this channel"


class ReadOnlyChannel(Forbidden):
    code = "read_only_channel"
    default_message = "Only managers and admins may post in this channel"


class NotTheAuthor(Forbidden):
    code = "not_the_author"
    default_message = "Only the author may change this message"


class NotFound(ChatError):
    code = "not_found"
    http_status = 404
    default_message = "Not found"


class ChannelNotFound(NotFound):
    code = "channel_not_found"
    default_message = "No such channel"


class MessageNotFound(NotFound):
    code = "message_not_found"
    default_message = "No such message"


class UserNotFound(NotFound):
    code = "user_not_found"
    default_message = "No such user"


class ExportNotFound(NotFound):
    code = "export_not_found"
    default_message = "No such export, or no such file in it"


class ExportNotReady(ChatError):
    code = "export_not_ready"
    http_status = 409
    default_message = "The export has not finished"


class SeqOutOfRange(BadRequest):
    code = "seq_out_of_range"
    default_message = "That sequence number does not exist in this channel"


class ClientIdReused(ChatError):
    code = "client_id_reused"
    http_status = 409
    default_message = "This client id was already used for a different message"


class MessageDeleted(ChatError):
    code = "message_deleted"
    http_status = 409
    default_message = "The message was deleted"


class MessagePurged(ChatError):
    code = "message_purged"
    http_status = 409
    default_message = "The message's retention period ended and its text was removed"


class HoldNotFound(NotFound):
    code = "hold_not_found"
    default_message = "No such legal hold"


class HoldReleased(ChatError):
    code = "hold_released"
    http_status = 409
    default_message = "The legal hold was already released"


class RoleRequired(Forbidden):
    """``role`` and ``allowed``, when known, let a page say in the reader's language who
    they are and who may (the console's error page); the JSON stays code and message."""

    code = "role_required"
    default_message = "Your role does not allow this"

    def __init__(self, message: str | None = None, *, role: str | None = None,
                 allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.role = role
        self.allowed = allowed


class CsrfFailed(Forbidden):
    """A console form arrived without this session's CSRF token (docs/admin.md)."""

    code = "csrf_failed"
    default_message = "The form's CSRF token is missing or not this session's"


class RateLimited(ChatError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many frames; slow down"


class ImportFailed(BadRequest):
    code = "import_failed"
    default_message = "The import file is invalid"


class InvalidToken(Unauthenticated):
    """RFC 6750 §3.1 / RFC 9449 §7.2: e.g. a DPoP-bound session presented as Bearer."""

    code = "invalid_token"
    default_message = "This session must be used with DPoP proofs"


class EnrollmentCodeInvalid(NotFound):
    code = "enrollment_code_invalid"
    default_message = "This enrollment code does not exist; ask an administrator for a new one"


class EnrollmentCodeExpired(ChatError):
    code = "enrollment_code_expired"
    http_status = 410
    default_message = "This enrollment code has expired; ask an administrator for a new one"


class EnrollmentCodeUsed(ChatError):
    code = "enrollment_code_used"
    http_status = 409
    default_message = "This enrollment code was already used; ask an administrator for a new one"


class RegistrationInvalid(BadRequest):
    code = "passkey_invalid"
    default_message = "The passkey could not be verified"


class PasskeyInvalid(Unauthenticated):
    code = "passkey_invalid"
    default_message = "The passkey could not be verified"


class DeviceMismatch(Unauthenticated):
    code = "device_mismatch"
    default_message = "The device key does not belong to the device of this passkey"


class DeviceKeyInUse(ChatError):
    code = "device_key_in_use"
    http_status = 409
    default_message = "This device key is already enrolled"


class DeviceRevoked(Forbidden):
    code = "device_revoked"
    default_message = "This device was revoked; ask an administrator to enroll it again"


class AccountDisabled(Forbidden):
    code = "account_disabled"
    default_message = "This account is disabled"


class OffHours(Forbidden):
    """Refused by the off-hours policy; the message says why in English and Japanese."""

    code = "off_hours"

    def __init__(self, code: str, message_en: str, message_ja: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_ja = message_ja

    def details(self) -> dict[str, str | int]:
        return {"message_ja": self.message_ja}


# --- PBX integration (docs/pbx.md) -------------------------------------------------------

class WebhookSignatureInvalid(ChatError):
    """A PBX webhook without a valid signature from an active secret, or too old."""

    code = "invalid_signature"
    http_status = 401
    default_message = "The webhook signature is missing, invalid or expired"


class InvalidEvent(BadRequest):
    """A malformed PBX event body; ``field`` names what is wrong."""

    code = "invalid_event"
    default_message = "The event is malformed"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> dict[str, str | int]:
        return {"field": self.field}


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    default_message = "No such notice"


class DisasterActive(ChatError):
    code = "disaster_active"
    http_status = 409
    default_message = "A disaster or drill is already declared; end it first"


class NoActiveDisaster(ChatError):
    code = "no_active_disaster"
    http_status = 409
    default_message = "No disaster or drill is declared"


class CrisisOnly(Forbidden):
    code = "crisis_only"
    default_message = "Only crisis management staff (and admins) declare or end a disaster"


class UnknownCardKind(NotFound):
    code = "unknown_card_kind"
    default_message = "No such card can be posted"


class AlreadyClaimed(ChatError):
    code = "already_claimed"
    http_status = 409
    default_message = "Someone else already took this callback"


class AlreadyDone(ChatError):
    code = "already_done"
    http_status = 409
    default_message = "This notice is already done"


class OperatorOnly(Forbidden):
    code = "operator_only"
    default_message = "Only operators (and admins) record phone memos"


class PbxSecretExists(ChatError):
    code = "pbx_secret_exists"
    http_status = 409
    default_message = "A PBX secret with this name already exists"


class PbxSecretNotFound(NotFound):
    code = "pbx_secret_not_found"
    default_message = "No active PBX secret with this name"


# --- the smartphone client: photos, stamps, pins, confirmations (docs/protocol.md) --------

class AttachmentNotFound(NotFound):
    code = "attachment_not_found"
    default_message = "No such attachment"


class AttachmentInUse(ChatError):
    code = "attachment_in_use"
    http_status = 409
    default_message = "This attachment already belongs to a message"


class InvalidImage(BadRequest):
    code = "invalid_image"
    default_message = "The file is not an image this server accepts"


class UnsupportedMediaType(ChatError):
    code = "unsupported_media_type"
    http_status = 415
    default_message = "Send image/jpeg, image/png or image/webp"


class UnknownStamp(BadRequest):
    code = "unknown_stamp"
    default_message = "That is not one of the stamps"


class NotAnAnnouncement(BadRequest):
    code = "not_an_announcement"
    default_message = "Only announcements take confirmations"


class BroadcastOnly(Forbidden):
    code = "broadcast_only"
    default_message = "Only crisis management staff, managers and admins send an urgent broadcast"


class UnknownBroadcastGroup(NotFound):
    code = "unknown_broadcast_group"
    default_message = "No such broadcast group"


# --- disaster mode: field reports, roll calls and the HQ (docs/disaster.md) ---------------

class ReportNotFound(NotFound):
    code = "report_not_found"
    default_message = "No such field report"


class RollCallNotFound(NotFound):
    code = "rollcall_not_found"
    default_message = "No such roll call"


class HqOnly(Forbidden):
    code = "hq_only"
    default_message = ("Only the disaster HQ (its members, the crisis role and admins) "
                       "may do this")


class InvalidMapLayer(BadRequest):
    code = "invalid_map_layer"
    default_message = "The file is not a GeoJSON FeatureCollection this server accepts"


class RollCallEnded(ChatError):
    code = "rollcall_ended"
    http_status = 409
    default_message = "This roll call has ended"


# --- transparency: an auditor says why they read (docs/audit.md) -------------------------

class ReasonRequired(BadRequest):
    code = "reason_required"
    default_message = ("Give the reason for this access (3 to 500 characters); the people "
                       "whose messages you read will see it")


class PushEndpointRefused(BadRequest):
    """A Web Push endpoint the server must not connect to (chat.domain.push_endpoints)."""

    code = "push_endpoint_refused"
    default_message = "This push endpoint is refused"


# --- faults: the store cannot take a write right now (docs/protocol.md#faults) ----------

class StorageUnavailable(ChatError):
    """The database cannot answer right now (disk full, I/O error, locked, a statement or
    lock timeout, a lost connection, no pooled connection free): nothing was stored, the
    request may be sent again unchanged after ``retry_after_ms`` (a send with the same
    client id stores once). Raised by :func:`chat.store.faults.storage_fault`; the
    websocket stays open and HTTP answers 503 with ``Retry-After``."""

    code = "storage_unavailable"
    http_status = 503
    default_message = "The server cannot store this right now; it will be sent again shortly"
    message_ja = "サーバーが一時的に保存できません。しばらくすると自動で再送します。"

    def __init__(self, message: str | None = None, *, retry_after_ms: int = 2000) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms

    def details(self) -> dict[str, str | int]:
        return {"message_ja": self.message_ja, "retry_after_ms": self.retry_after_ms}
