"""The card registry: what each message kind is, for every side that handles messages.

A message's ``kind`` (:class:`chat.domain.kinds.MessageKind`) decides how it is stored,
how it goes on the wire, what its Web Push says and what members may do to it. Each
kind answers those questions once, in its own module of this package
(``chat/domain/cards/<kind>.py``), which calls :func:`register` when imported; this
package imports every module in it, so a new kind is a new module and nothing else
here changes. ``tests/unit/test_cards.py`` checks that every ``MessageKind`` has a card.

The store, the wire (``chat.actions.wire``), the pushes (``chat.domain.push``) and the
claim-and-done flow (``chat.actions.notices``) ask :func:`card_of`, never compare kinds.
Pure: no I/O.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from chat.domain.kinds import MessageKind

# What a system card without a label of its own says in a push title: neutral, so a
# new kind is never announced as something else (a missed call, a memo).
NEUTRAL_PUSH_LABEL = "お知らせ"


class Sender(StrEnum):
    """Who posts a card: a person (``sender_id`` set, sent with ``send``) or the system
    (``sender_id`` null; clients show it as from 「電話」)."""

    PERSON = "person"
    SYSTEM = "system"


class Stored(StrEnum):
    """Where a card keeps what it holds beyond the message row's text."""

    # The card as JSON in ``messages.data``, on the wire as ``message.data`` verbatim
    # (gone with the text once the message is deleted or purged; chat.frames).
    DATA = "messages.data"
    # A ``notices`` row: the follow-up state (open → claimed → done) and how repeats
    # collapse (chat.store.notices).
    NOTICE = "notices"
    # An ``attachments`` row: the photo, on the wire as ``message.attachment``
    # (chat.actions.wire loads them a page at a time).
    PHOTO = "attachments"


class CardAction(StrEnum):
    """What a member of the channel may do to a card (``/api/notices/{id}/claim|done``)."""

    CLAIM = "claim"
    DONE = "done"


def _as_written(body: str) -> str:
    return body


@dataclass(frozen=True)
class Card:
    """One message kind's answers. ``push_text`` turns the message's text (stripped)
    into a push body; ``push_label`` names a system card in the push title
    (「電話：<label>」)."""

    kind: MessageKind
    sender: Sender
    stores: frozenset[Stored] = frozenset()
    # Every member of the card's channel may do these (and nobody else: the action
    # checks the membership); an action a card does not list is refused as not found.
    actions: frozenset[CardAction] = frozenset()
    push_label: str | None = None
    push_text: Callable[[str], str] = field(default=_as_written)

    @property
    def has_follow_up(self) -> bool:
        return Stored.NOTICE in self.stores

    @property
    def shows_photo(self) -> bool:
        return Stored.PHOTO in self.stores

    def may(self, action: CardAction) -> bool:
        return action in self.actions

    def push_title_label(self) -> str:
        return self.push_label or NEUTRAL_PUSH_LABEL


class UnknownKind(LookupError):
    """A kind no card is registered for (a value outside :class:`MessageKind`, or a
    member whose module is missing)."""


_CARDS: dict[MessageKind, Card] = {}


def register(card: Card) -> Card:
    """Add ``card`` to the registry (called once by its module). Raises ValueError for
    a kind registered twice."""
    if card.kind in _CARDS:
        raise ValueError(f"a card for {card.kind.value!r} is registered already")
    _CARDS[card.kind] = card
    return card


def card_of(kind: str) -> Card:
    """The card of ``kind`` (a :class:`MessageKind` or its stored value). Raises
    UnknownKind."""
    try:
        return _CARDS[MessageKind(kind)]
    except (ValueError, KeyError):
        raise UnknownKind(kind) from None


def find_card(kind: str) -> Card | None:
    """The card of a kind read from storage, or None when it is unknown here (a row a
    newer node wrote, say): the caller treats such a message as a plain one."""
    try:
        return card_of(kind)
    except UnknownKind:
        return None


def registered() -> Iterator[Card]:
    """Every registered card, in the order of :class:`MessageKind`."""
    return (_CARDS[kind] for kind in MessageKind if kind in _CARDS)


def kinds_with(stored: Stored) -> frozenset[MessageKind]:
    """The kinds whose cards keep something in ``stored`` (e.g. the notice kinds)."""
    return frozenset(card.kind for card in _CARDS.values() if stored in card.stores)


def _import_card_modules() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_card_modules()
