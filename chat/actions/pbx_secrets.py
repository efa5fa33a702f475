"""PBX webhook secrets: create, list and retire them, sealed at rest, and the active ones as
the signing keys a webhook is checked against (docs/pbx.md §2). Several secrets of one
kind may be active at once, so a PBX can switch to a new one without losing events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.pbx_formats.registry import SigningKey, default_format, format_named
from chat.errors import BadRequest, PbxSecretExists, PbxSecretNotFound
from chat.store.models import PbxSecret
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

log = logging.getLogger(__name__)

SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SEAL_LABEL = b"tsunagu/pbx-secret-seal/v1"


def _seal_key(ctx: AppContext) -> bytes:
    return hmac.new(ctx.secrets.session_key, _SEAL_LABEL, hashlib.sha256).digest()


def seal(ctx: AppContext, value: str) -> str:
    """AES-GCM under a key derived from the instance secrets (nodes share the file)."""
    nonce = os.urandom(12)
    sealed = AESGCM(_seal_key(ctx)).encrypt(nonce, value.encode(), _SEAL_LABEL)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(ctx: AppContext, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed)
    return AESGCM(_seal_key(ctx)).decrypt(raw[:12], raw[12:], _SEAL_LABEL).decode()


async def create_secret(ctx: AppContext, *, name: str, by: str, kind: str | None = None,
                        value: str | None = None) -> str:
    """Store a new active secret of the PBX format ``kind`` (default: the first registered,
    ``standard``) and return it, for the operator to copy once into the PBX. Formats
    whose secret the PBX issues (``twilio``: the account's Auth Token) take it as
    ``value``; the others generate one (``standard``: a fresh ``whsec_`` secret). Raises
    PbxSecretExists, BadRequest (a bad name, an unknown kind, a missing value)."""
    if not SECRET_NAME.match(name):
        raise BadRequest("A secret name is 1 to 64 letters, digits, '.', '_' or '-'")
    try:
        pbx_format = format_named(kind) if kind is not None else default_format()
        value = pbx_format.issue_secret(value)
    except ValueError as error:         # UnknownPbxFormat, or the value is unusable
        raise BadRequest(str(error)) from None
    kind = pbx_format.name
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        if await uow.pbx.secret(name) is not None:
            raise PbxSecretExists()
        secret = PbxSecret(name=name, kind=kind, sealed=seal(ctx, value),
                           created_at=ctx.clock.now(), created_by=by)
        uow.pbx.add_secret(secret)
        await uow.flush()
        # The audit log names the secret, never its value.
        audit_within(ctx, uow, AuditAction.PBX_SECRET_CREATED, secret_id=secret.id, name=name,
                     kind=kind, by=by)
    return value


async def list_secrets(ctx: AppContext) -> list[JSON]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return [{"id": s.id, "name": s.name, "kind": s.kind, "created_at": s.created_at,
                 "created_by": s.created_by, "retired_at": s.retired_at}
                for s in await uow.pbx.secrets()]


async def retire_secret(ctx: AppContext, *, name: str, by: str) -> None:
    """Stop accepting a secret (after the PBX switched to a newer one)."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        secret = await uow.pbx.secret(name)
        if secret is None or secret.retired_at is not None:
            raise PbxSecretNotFound()
        secret.retired_at, secret.retired_by = ctx.clock.now(), by
        audit_within(ctx, uow, AuditAction.PBX_SECRET_RETIRED, secret_id=secret.id, name=name,
                     kind=secret.kind, by=by)


async def signing_keys(ctx: AppContext, kind: str) -> list[SigningKey]:
    """The active secrets of the PBX format ``kind`` as its verifier's keys (a secret
    sealed under other instance secrets is skipped and logged)."""
    pbx_format = format_named(kind)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        rows = await uow.pbx.active_secrets(kind)
    keys = []
    for row in rows:
        try:
            value = unseal(ctx, row.sealed)
        except (InvalidTag, ValueError):
            log.error("PBX secret %r cannot be unsealed: another instance's secrets file?",
                      row.name)
            continue
        keys.append(SigningKey(row.name, pbx_format.signing_key(value)))
    return keys
