"""The card registry (chat.domain.cards): every message kind answers, once, what it
stores, how it goes on the wire, what its push says and what members may do to it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import chat
import chat.domain.cards as cards
from chat.domain.cards import (
    Card,
    CardAction,
    Sender,
    Stored,
    UnknownKind,
    card_of,
    find_card,
    kinds_with,
    register,
    registered,
)
from chat.domain.kinds import MessageKind

CHAT = Path(chat.__file__).parent
KIND_VALUES = frozenset(kind.value for kind in MessageKind)


def test_every_message_kind_has_a_card() -> None:
    assert [card.kind for card in registered()] == list(MessageKind)
    for kind in MessageKind:
        assert card_of(kind).kind is kind
        assert card_of(kind.value) is card_of(kind)   # as read from a row


def test_every_card_module_registers_its_card_by_itself() -> None:
    """A new kind is a new module in chat/domain/cards: the package imports it, and it
    holds the card it registered."""
    for module in pkgutil.iter_modules(cards.__path__):
        loaded = importlib.import_module(f"{cards.__name__}.{module.name}")
        own = [value for value in vars(loaded).values() if isinstance(value, Card)]
        assert own and all(card_of(card.kind) is card for card in own), module.name


def test_a_kind_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register(Card(kind=MessageKind.MEMO, sender=Sender.SYSTEM))
    assert card_of(MessageKind.MEMO).push_label == "伝言メモ"


def test_an_unknown_kind_is_refused_or_not_found() -> None:
    with pytest.raises(UnknownKind):
        card_of("disaster.report")
    assert find_card("disaster.report") is None


def test_the_existing_cards_keep_what_they_kept() -> None:
    text, photo = card_of(MessageKind.TEXT), card_of(MessageKind.PHOTO)
    assert text.stores == frozenset() and photo.stores == {Stored.PHOTO}
    # The wire loads the photos of these kinds' messages.
    assert MessageKind.PHOTO in kinds_with(Stored.PHOTO) - kinds_with(Stored.NOTICE)
    for card in (text, photo):
        assert card.sender is Sender.PERSON and not card.actions and card.push_label is None
    for kind, label in ((MessageKind.MISSED_CALL, "不在着信"), (MessageKind.MEMO, "伝言メモ")):
        card = card_of(kind)
        assert card.sender is Sender.SYSTEM and card.stores == {Stored.DATA, Stored.NOTICE}
        assert card.has_follow_up and not card.shows_photo and card.push_label == label
        assert card.may(CardAction.CLAIM) and card.may(CardAction.DONE)
        assert kind in kinds_with(Stored.NOTICE)


def _bare_kinds(tree: ast.AST) -> list[int]:
    """Lines that compare a ``.kind`` with, or pass ``kind=``, a MessageKind value
    spelled as a string."""
    def literals(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Constant) and n.value in KIND_VALUES
                   for n in ast.walk(node))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides) \
                    and any(literals(s) for s in sides):
                lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg == "kind" and literals(node.value):
            lines.append(node.value.lineno)
    return sorted(lines)


def test_no_module_names_a_message_kind_by_a_bare_string() -> None:
    found = {str(path.relative_to(CHAT)): lines for path in sorted(CHAT.rglob("*.py"))
             if (lines := _bare_kinds(ast.parse(path.read_text(encoding="utf-8"))))}
    assert found == {}


def test_the_bare_kind_check_sees_the_old_spellings() -> None:
    old = ('row = _NewRow(kind="photo" if a.photo else "text")\n'
           'photos = [m.id for m in messages if m.kind == "photo"]\n'
           'q = select(Notice).where(Notice.kind == "call.missed")\n'
           'row = Message(kind="memo")\n')
    assert _bare_kinds(ast.parse(old)) == [1, 2, 3, 4]


def test_the_protocol_reference_names_every_kind() -> None:
    protocol = (CHAT.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert [kind.value for kind in MessageKind if f'"{kind.value}"' not in protocol] == []
