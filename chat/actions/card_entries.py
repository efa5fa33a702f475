"""Posting a card from the phone or the console: the registry behind the one route
``POST /api/cards/{kind}`` (``chat/web/cards.py``).

An action module that lets a person post a kind of card registers one poster with
``@card_entry(MessageKind.X)``; :func:`load_card_entries` imports every module of
``chat.actions`` once, so the route finds it without a line anywhere else. A poster gets
the request's JSON object as it came and validates it itself (with :func:`text_field`,
:func:`optional_int`, …), exactly as it would the arguments of any other action.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping

import chat.actions
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.kinds import MessageKind
from chat.errors import BadRequest, UnknownCardKind
from chat.types import JSON

CardPoster = Callable[[AppContext, Principal, Mapping[str, object]], Awaitable[JSON]]

_POSTERS: dict[MessageKind, CardPoster] = {}


def card_entry(kind: MessageKind) -> Callable[[CardPoster], CardPoster]:
    """Register the decorated coroutine as how a person posts ``kind``. One per kind."""
    def register(poster: CardPoster) -> CardPoster:
        if kind in _POSTERS and _POSTERS[kind] is not poster:
            raise ValueError(f"card kind {kind.value!r} has a poster already")
        _POSTERS[kind] = poster
        return poster
    return register


def load_card_entries() -> None:
    """Import every action module, so each registers its card entries (idempotent)."""
    for module in pkgutil.iter_modules(chat.actions.__path__):
        importlib.import_module(f"{chat.actions.__name__}.{module.name}")


def poster_for(kind: str) -> CardPoster:
    """The poster of ``kind``; raises UnknownCardKind for a kind nobody may post."""
    try:
        return _POSTERS[MessageKind(kind)]
    except (ValueError, KeyError):
        raise UnknownCardKind(f"No card of kind {kind[:40]!r} can be posted") from None


def postable_kinds() -> list[MessageKind]:
    return sorted(_POSTERS, key=lambda kind: kind.value)


def text_field(body: Mapping[str, object], name: str) -> str:
    """A string field; absent or null reads as ""."""
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def optional_text(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def optional_int(body: Mapping[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadRequest(f"{name} must be an integer")
    return value
