"""The registry of PBX webhook formats: one :class:`PbxFormat` per format, each defined
and registered by its own module in this package (``standard.py``, ``twilio.py``).

A format says everything that differs between PBXs: the URL it posts to, the kind of
secret it is signed with, how a delivery's signature is checked, how its body becomes the
common :class:`~chat.domain.pbx_formats.events.PbxEventIn`, and what identifies one
delivery (so a retry is stored once). The webhook handler, the CLI's ``--kind``, the admin
console's choice of kind and the event log read it from here; none of them names a format.

Pure: formats take the secrets, the request and the time as arguments; nothing here reads
a clock, the network or the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chat.domain.pbx_formats.events import PbxEventIn, UnknownEvent


class SignatureRejected(ValueError):
    """The request is not from a PBX holding an active secret (or is too old)."""


class UnknownPbxFormat(ValueError):
    """No format of that name (or route, or event source) is registered."""


@dataclass(frozen=True)
class SigningKey:
    """One active secret as a format's verifier uses it: its name (logged with every event
    it signed) and its key bytes (:attr:`PbxFormat.signing_key` derives them)."""

    name: str
    key: bytes


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook request as a format sees it, without the web framework.

    ``headers`` must look names up case-insensitively or hold them in lower case (HTTP
    header names are case-insensitive). ``body`` is the raw bytes exactly as received:
    signatures cover them. ``url`` is the public URL the sender requested, query string
    included (what Twilio signs)."""

    headers: Mapping[str, str]
    body: bytes
    url: str
    received_at: datetime


class Verifier(Protocol):
    def __call__(self, keys: Sequence[SigningKey], delivery: WebhookDelivery, /, *,
                 now: float, tolerance: float) -> str: ...


class Parser(Protocol):
    def __call__(self, delivery: WebhookDelivery, /, *,
                 country_code: str) -> PbxEventIn | UnknownEvent: ...


@dataclass(frozen=True)
class PbxFormat:
    """A PBX webhook format.

    - ``name``: the secret kind (``pbx_secrets.kind``), the CLI's ``--kind`` and the admin
      console's option; ``label`` is what an operator reads beside it.
    - ``source``: what the event log and the calls store as their ``source`` (a call id is
      unique per source); ``route``: the path the PBX posts to.
    - ``secret_label``: what an operator calls the secret (prompts, messages).
    - ``operator_supplies_secret``: the secret is the PBX's own (Twilio's Auth Token) and
      pasted in, rather than generated here and copied into the PBX.
    - ``issue_secret(value)``: the secret to store (a fresh one, or ``value`` checked);
      raises ``ValueError`` with a message for the operator.
    - ``signing_key(secret)``: the key bytes a stored secret verifies with.
    - ``verify(keys, delivery, now=, tolerance=)``: the name of the key that signed the
      delivery; raises :class:`SignatureRejected`. ``now`` is a POSIX time and
      ``tolerance`` the seconds a signed timestamp may be off it (formats that sign one).
    - ``parse(delivery, country_code=)``: the event in the common model; raises
      :class:`~chat.domain.pbx_formats.events.InvalidEventField`, also for a body that is
      not UTF-8 (the event log stores the body as text). Called only after ``verify``.
    - ``delivery_id(delivery)``: what makes one delivery unique (a retry repeats it);
      called only after ``parse`` succeeded.
    - ``logged_payload(text)``: the stored body as the event log shows it.
    """

    name: str
    label: str
    source: str
    route: str
    secret_label: str
    operator_supplies_secret: bool
    issue_secret: Callable[[str | None], str]
    signing_key: Callable[[str], bytes]
    verify: Verifier
    parse: Parser
    delivery_id: Callable[[WebhookDelivery], str]
    logged_payload: Callable[[str], Any]


# pbx_secrets.kind, pbx_events.source and pbx_calls.source are String(16).
MAX_STORED_CHARS = 16
_FORMATS: dict[str, PbxFormat] = {}


def register(pbx_format: PbxFormat) -> PbxFormat:
    """Add a format (its module calls this on import). Names, routes and sources are each
    unique, and name and source fit their columns: anything else is a programming error
    (``ValueError``)."""
    if not all(0 < len(value) <= MAX_STORED_CHARS
               for value in (pbx_format.name, pbx_format.source)):
        raise ValueError(f"PBX format {pbx_format.name!r}: name and source are 1 to "
                         f"{MAX_STORED_CHARS} characters")
    if not pbx_format.route.startswith("/"):
        raise ValueError(f"PBX format {pbx_format.name!r}: the route is a path")
    for other in _FORMATS.values():
        clash = [field for field in ("name", "route", "source")
                 if getattr(other, field) == getattr(pbx_format, field)]
        if clash:
            raise ValueError(f"PBX format {pbx_format.name!r} reuses the {clash[0]} of "
                             f"{other.name!r}")
    _FORMATS[pbx_format.name] = pbx_format
    return pbx_format


def formats() -> list[PbxFormat]:
    """Every registered format, in registration order (the first is the default kind)."""
    return list(_FORMATS.values())


def format_names() -> list[str]:
    return list(_FORMATS)


def default_format() -> PbxFormat:
    return next(iter(_FORMATS.values()))


def format_named(name: str) -> PbxFormat:
    """Raises :class:`UnknownPbxFormat` naming the known kinds."""
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownPbxFormat(f"unknown PBX format {name!r} (known: "
                               f"{', '.join(_FORMATS)})") from None


def format_of_source(source: str) -> PbxFormat:
    """The format whose deliveries are stored under ``source``; raises
    :class:`UnknownPbxFormat`."""
    for pbx_format in _FORMATS.values():
        if pbx_format.source == source:
            return pbx_format
    raise UnknownPbxFormat(f"no PBX format stores events as {source!r}")
