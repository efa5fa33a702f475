"""The registry of card posters: one per kind, found by the kind's wire value."""

from __future__ import annotations

import pytest

from chat.actions.card_entries import (
    card_entry,
    load_card_entries,
    optional_int,
    postable_kinds,
    poster_for,
    text_field,
)
from chat.domain.kinds import MessageKind
from chat.errors import BadRequest, UnknownCardKind


def test_every_action_module_registers_on_load() -> None:
    load_card_entries()
    assert MessageKind.MEMO in postable_kinds()
    assert poster_for("memo") is poster_for(MessageKind.MEMO)


def test_unknown_and_unpostable_kinds_are_refused() -> None:
    load_card_entries()
    for kind in ("nope", "text", ""):
        with pytest.raises(UnknownCardKind):
            poster_for(kind)


def test_a_kind_cannot_get_a_second_poster() -> None:
    load_card_entries()
    with pytest.raises(ValueError, match="has a poster already"):
        @card_entry(MessageKind.MEMO)
        async def another(*_: object) -> dict[str, object]:
            return {}


def test_field_readers_say_which_field_is_wrong() -> None:
    assert text_field({"a": None}, "a") == "" and text_field({}, "a") == ""
    with pytest.raises(BadRequest, match="b must be a string"):
        text_field({"b": 3}, "b")
    with pytest.raises(BadRequest, match="n must be an integer"):
        optional_int({"n": True}, "n")
    assert optional_int({}, "n") is None
