"""Devices: one-time enrollment, passkey sign-in bound to the device key, revocation.

The web layer verifies the DPoP proof of each ceremony's final request (it knows the
method and URL) and hands the verified key here; everything else — codes, challenges,
the passkey, the policy, the session — is decided in this module, and every outcome,
refusals included, is an audit event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from chat.actions.sessions import revoke_within
from chat.audit.record import audit, audit_within
from chat.auth import passkeys
from chat.auth.dpop import VerifiedProof
from chat.auth.passkeys import ENROLL, SIGN_IN
from chat.auth.sessions import PASSKEY_SESSION_KIND, idle_deadline, new_session
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.dates import wire_time, wire_time_or_none
from chat.errors import (
    AccountDisabled,
    BadRequest,
    ChatError,
    DeviceKeyInUse,
    DeviceMismatch,
    DeviceRevoked,
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    NotFound,
    PasskeyInvalid,
    RegistrationInvalid,
    UserNotFound,
)
from chat.store.models import Device, EnrollmentCode, Passkey, User
from chat.store.uow import TxMode, unit_of_work

MAX_LABEL_CHARS = 100
DEFAULT_LABEL = "スマートフォン"
MAX_CODE_CHARS = 64


def _code_digest(ctx: AppContext, code: str) -> str:
    return hmac.new(ctx.secrets.session_key, b"tsunagu/enrollment-code\x00" + code.encode(),
                    hashlib.sha256).hexdigest()


def _clean_label(label: str | None) -> str:
    label = " ".join((label or "").split())
    if len(label) > MAX_LABEL_CHARS:
        raise BadRequest(f"The device label may have at most {MAX_LABEL_CHARS} characters")
    return label or DEFAULT_LABEL


# --- enrollment -----------------------------------------------------------------------

@dataclass(frozen=True)
class EnrollmentTicket:
    """What an administrator hands to the phone: the code, as a link (and QR code)."""

    code: str
    link: str
    expires_at: datetime
    user_name: str
    staff_number: str
    label: str


async def create_enrollment(ctx: AppContext, *, staff_number: str, label: str | None,
                            created_by: str, ttl_seconds: int | None = None
                            ) -> EnrollmentTicket:
    ttl = ttl_seconds or ctx.settings.enrollment_code_ttl_seconds
    if not 60 <= ttl <= 7 * 24 * 3600:
        raise BadRequest("An enrollment code lives between one minute and seven days")
    code = secrets.token_urlsafe(16)
    now = ctx.clock.now()
    clean_label = _clean_label(label)
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        user = await uow.users.by_staff_number(staff_number)
        if user is None:
            raise UserNotFound(f"No staff member has the number {staff_number!r}")
        if not user.is_active:
            raise AccountDisabled(f"{user.name} ({staff_number}) is disabled")
        record = EnrollmentCode(code_digest=_code_digest(ctx, code), user_id=user.id,
                                label=clean_label, created_by=created_by, created_at=now,
                                expires_at=now + timedelta(seconds=ttl))
        uow.devices.add_code(record)
        await uow.flush()
        audit_within(ctx, uow, AuditAction.DEVICE_ENROLLMENT_CODE_CREATED, subject_user_id=user.id,
                     by=created_by, code_id=record.id, label=clean_label,
                     expires_at=record.expires_at.isoformat())
        name = user.name
    return EnrollmentTicket(code=code, link=f"{ctx.settings.public_origin}/enroll#code={code}",
                            expires_at=now + timedelta(seconds=ttl), user_name=name,
                            staff_number=staff_number, label=clean_label)


async def _usable_code(ctx: AppContext, code: object, *, remote: str | None
                       ) -> tuple[EnrollmentCode, User]:
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_CHARS:
        raise EnrollmentCodeInvalid()
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        record = await uow.devices.code_by_digest(_code_digest(ctx, code))
        user = await uow.users.get(record.user_id) if record else None
    error: ChatError | None = None
    if record is None or user is None:
        error = EnrollmentCodeInvalid()
    elif record.used_at is not None:
        error = EnrollmentCodeUsed()
    elif record.expires_at <= ctx.clock.now():
        error = EnrollmentCodeExpired()
    elif not user.is_active:
        error = AccountDisabled()
    if error is not None:
        await audit(ctx, AuditAction.DEVICE_ENROLL_FAILED, outcome="refused",
                    subject_user_id=user.id if user else None, remote=remote,
                    reason=error.code, code_id=record.id if record else None)
        raise error
    assert record is not None and user is not None
    return record, user


async def enrollment_options(ctx: AppContext, *, code: object,
                             remote: str | None = None) -> dict[str, Any]:
    """WebAuthn creation options for the person the code enrolls (the code is not used
    up: the ceremony may be cancelled and retried until it expires)."""
    record, user = await _usable_code(ctx, code, remote=remote)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        existing = list(await uow.devices.active_passkey_ids_of_user(user.id))
    challenge = ctx.require_proofs().challenges.issue(
        ENROLL, ctx.clock.now(), binding=record.code_digest.encode())
    options = passkeys.registration_options(
        rp_id=ctx.settings.rp_id, rp_name=ctx.settings.rp_name, challenge=challenge,
        handle=passkeys.user_handle(ctx.secrets.session_key, user.id),
        user_name=user.staff_number, display_name=user.name, existing=existing)
    return {"user": {"name": user.name, "staff_number": user.staff_number},
            "label": record.label, "expires_at": wire_time(record.expires_at),
            "publicKey": options}


async def complete_enrollment(ctx: AppContext, *, code: object, credential: object,
                              proof: VerifiedProof, user_agent: str | None = None,
                              remote: str | None = None) -> dict[str, Any]:
    """Register the passkey and the device key (from the request's proof); use the code."""
    record, user = await _usable_code(ctx, code, remote=remote)
    if not isinstance(credential, dict):
        raise RegistrationInvalid("credential must be a JSON object")
    now = ctx.clock.now()
    service = ctx.require_proofs()
    try:
        challenge = passkeys.client_challenge(credential)
        if not service.challenges.check(challenge, ENROLL, now,
                                        binding=record.code_digest.encode()):
            raise RegistrationInvalid("The passkey was not made for this enrollment")
        new = passkeys.verify_registration(credential, challenge=challenge,
                                           rp_id=ctx.settings.rp_id,
                                           origins=sorted(ctx.settings.origins))
        if not await service.challenges.redeem(challenge, now):
            raise RegistrationInvalid("This passkey response was already used")
    except ChatError as error:
        await audit(ctx, AuditAction.DEVICE_ENROLL_FAILED, outcome="refused",
                    subject_user_id=user.id, remote=remote, reason=error.code,
                    detail=error.message[:200])
        raise RegistrationInvalid(error.message) from None
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            if await uow.devices.by_jkt(proof.jkt) is not None:
                raise DeviceKeyInUse()
            old = await uow.devices.passkey(new.credential_id)
            if old is not None:
                previous = await uow.devices.get(old.device_id)
                if previous is not None and previous.state == "active":
                    raise RegistrationInvalid("This passkey is already registered")
                # The passkey of a revoked device, enrolled again: it moves to the new one.
                await uow.devices.delete_passkey(old.id)
            if not await uow.devices.consume_code(record.id, at=now):
                raise EnrollmentCodeUsed()
            device = Device(user_id=user.id, label=record.label, state="active",
                            jkt=proof.jkt, public_jwk=json.dumps(proof.public_jwk),
                            user_agent=(user_agent or "")[:300] or None, created_at=now,
                            enrolled_at=now, last_seen_at=now)
            uow.devices.add(device)
            await uow.flush()
            uow.devices.add_passkey(Passkey(
                credential_id=new.credential_id, user_id=user.id, device_id=device.id,
                public_key=new.public_key, sign_count=new.sign_count, aaguid=new.aaguid,
                backed_up=new.backed_up, created_at=now))
            await uow.devices.attach_code_device(record.id, device.id)
            audit_within(ctx, uow, AuditAction.DEVICE_ENROLLED, subject_user_id=user.id,
                         device_id=device.id, remote=remote, code_id=record.id,
                         label=record.label, jkt=proof.jkt, aaguid=new.aaguid)
            result = {"device": {"id": device.id, "label": device.label,
                                 "enrolled_at": wire_time(now)},
                      "credential_id": new.credential_id}
    except IntegrityError:
        # Two phones racing with one device key or passkey: the loser gets this.
        refusal: ChatError = DeviceKeyInUse()
    except ChatError as refused:
        refusal = refused
    else:
        return result
    await audit(ctx, AuditAction.DEVICE_ENROLL_FAILED, outcome="refused", subject_user_id=user.id,
                remote=remote, reason=refusal.code)
    raise refusal


# --- sign-in --------------------------------------------------------------------------

def signin_options(ctx: AppContext, *, credential_id: object = None) -> dict[str, Any]:
    """Assertion options; a device that knows its passkey names it, so the browser does
    not offer another person's passkey synced to the same phone."""
    allowed: list[str] = []
    if credential_id is not None:
        if not isinstance(credential_id, str) or not credential_id or \
                len(credential_id) > 1400:
            raise BadRequest("credential_id must be a base64url string")
        allowed = [credential_id]
    challenge = ctx.require_proofs().challenges.issue(SIGN_IN, ctx.clock.now())
    try:
        options = passkeys.authentication_options(rp_id=ctx.settings.rp_id,
                                                  challenge=challenge,
                                                  credential_ids=allowed)
    except ValueError:
        raise BadRequest("credential_id must be a base64url string") from None
    return {"publicKey": options}


@dataclass(frozen=True)
class SignedIn:
    token: str
    session_id: int
    user: dict[str, Any]
    device: dict[str, Any]
    expires_at: datetime
    idle_expires_at: datetime


async def sign_in(ctx: AppContext, *, credential: object, proof: VerifiedProof,
                  remote: str | None = None) -> SignedIn:
    """A passkey assertion, from the enrolled device whose key signed ``proof``."""
    if not isinstance(credential, dict):
        raise PasskeyInvalid("credential must be a JSON object")
    now = ctx.clock.now()
    service = ctx.require_proofs()
    credential_id = passkeys.credential_id_of(credential)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        passkey = await uow.devices.passkey(credential_id)
        device = await uow.devices.get(passkey.device_id) if passkey else None
        user = await uow.users.get(passkey.user_id) if passkey else None

    async def refuse(error: ChatError) -> ChatError:
        await audit(ctx, AuditAction.SESSION_SIGN_IN_FAILED, outcome="refused",
                    subject_user_id=user.id if user else None,
                    device_id=device.id if device else None, remote=remote,
                    reason=error.code, detail=error.message[:200])
        return error

    if passkey is None or device is None or user is None:
        raise await refuse(PasskeyInvalid("This passkey is not enrolled here"))
    challenge = passkeys.client_challenge(credential)
    if not service.challenges.check(challenge, SIGN_IN, now):
        raise await refuse(PasskeyInvalid("The sign-in challenge is unknown or expired"))
    try:
        new_count = passkeys.verify_assertion(
            credential, challenge=challenge, rp_id=ctx.settings.rp_id,
            origins=sorted(ctx.settings.origins), public_key=passkey.public_key,
            sign_count=passkey.sign_count)
    except ChatError as error:
        raise await refuse(error) from None
    if device.state != "active":
        raise await refuse(DeviceRevoked())
    if not user.is_active:
        raise await refuse(AccountDisabled())
    if device.jkt is None or not hmac.compare_digest(device.jkt, proof.jkt):
        raise await refuse(DeviceMismatch())
    if not await service.challenges.redeem(challenge, now):
        raise await refuse(PasskeyInvalid("This sign-in response was already used"))
    if ctx.policy is not None:
        try:
            await ctx.policy.check(user.role)
        except ChatError as error:
            raise await refuse(error) from None
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.devices.record_passkey_use(passkey.id, sign_count=new_count, at=now)
        await uow.devices.touch(device.id, at=now)
        token, session = new_session(ctx, uow, user_id=user.id, kind=PASSKEY_SESSION_KIND,
                                     device_id=device.id, jkt=device.jkt)
        await uow.flush()
        audit_within(ctx, uow, AuditAction.SESSION_SIGNED_IN, subject_user_id=user.id,
                     device_id=device.id, session_id=session.id, remote=remote,
                     method="passkey")
        session_id = session.id
    return SignedIn(token=token, session_id=session_id,
                    user={"id": user.id, "name": user.name, "role": user.role,
                          "staff_number": user.staff_number},
                    device={"id": device.id, "label": device.label},
                    expires_at=now + timedelta(seconds=ctx.settings.session_ttl_seconds),
                    idle_expires_at=idle_deadline(ctx, now))


# --- administration -------------------------------------------------------------------

async def revoke_device(ctx: AppContext, *, device_id: int, reason: str, by: str,
                        actor_user_id: int | None = None) -> list[int]:
    """Revoke a device for good; its sessions end and their connections close on every
    node (through the bus). Returns the sessions that were live."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        device = await uow.devices.get(device_id)
        if device is None:
            raise NotFound(f"No device has the id {device_id}")
        if not await uow.devices.revoke(device_id, at=ctx.clock.now(), reason=reason):
            raise BadRequest(f"Device {device_id} is already revoked")
        live = await uow.sessions.live_ids_of_device(device_id)
        revoked = await revoke_within(ctx, uow, live, reason="device revoked")
        audit_within(ctx, uow, AuditAction.DEVICE_REVOKED, actor_user_id=actor_user_id,
                     subject_user_id=device.user_id, device_id=device_id, by=by,
                     reason=reason, sessions=revoked)
    return revoked


async def list_devices(ctx: AppContext, *, staff_number: str | None = None
                       ) -> list[dict[str, Any]]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        user_id = None
        if staff_number is not None:
            user = await uow.users.by_staff_number(staff_number)
            if user is None:
                raise UserNotFound(f"No staff member has the number {staff_number!r}")
            user_id = user.id
        rows = await uow.devices.listing(user_id=user_id)
    return [{"id": d.id, "staff_number": u.staff_number, "user": u.name, "label": d.label,
             "state": d.state, "enrolled_at": _iso(d.enrolled_at),
             "last_seen_at": _iso(d.last_seen_at), "revoked_at": _iso(d.revoked_at)}
            for d, u in rows]


async def live_sessions_by_device(ctx: AppContext) -> dict[int, int]:
    """How many live sessions each device holds (what a revocation would end)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return await uow.sessions.live_counts_by_device(now=ctx.clock.now())


async def set_user_active(ctx: AppContext, *, staff_number: str, active: bool, by: str,
                          actor_user_id: int | None = None) -> list[int]:
    """Disable (or re-enable) an account. Disabling ends every session at once."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        user = await uow.users.by_staff_number(staff_number)
        if user is None:
            raise UserNotFound(f"No staff member has the number {staff_number!r}")
        revoked: list[int] = []
        if user.is_active != active:
            user.is_active = active
            user.updated_at = ctx.clock.now()
        if not active:
            live = await uow.sessions.live_ids_of_user(user.id, now=ctx.clock.now())
            revoked = await revoke_within(ctx, uow, live, reason="account disabled")
        audit_within(ctx, uow, AuditAction.USER_ENABLED if active else AuditAction.USER_DISABLED,
                     actor_user_id=actor_user_id, subject_user_id=user.id, by=by,
                     sessions=revoked)
    return revoked


_iso = wire_time_or_none
