"""The registry of PBX webhook formats (chat/domain/pbx_formats/registry.py): what is
registered, that no two formats share a name, route or source, and how an unknown kind is
refused, by the registry and by the action that stores secrets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chat.domain.pbx_formats.registry import (
    UnknownPbxFormat,
    default_format,
    format_named,
    format_names,
    format_of_source,
    formats,
    register,
)
from chat.domain.pbx_formats.standard import STANDARD
from chat.domain.pbx_formats.twilio import TWILIO

ROOT = Path(__file__).resolve().parents[2]


def test_standard_webhooks_and_twilio_are_registered_standard_first() -> None:
    assert format_names()[:2] == ["standard", "twilio"]
    assert formats()[:2] == [STANDARD, TWILIO] and default_format() is STANDARD
    assert (STANDARD.route, TWILIO.route) == ("/pbx/events", "/pbx/twilio/status")
    assert format_named("twilio") is TWILIO
    assert format_of_source("native") is STANDARD and format_of_source("twilio") is TWILIO


def test_names_routes_and_sources_are_unique() -> None:
    for field in ("name", "route", "source"):
        values = [getattr(f, field) for f in formats()]
        assert len(values) == len(set(values)), field


@pytest.mark.parametrize("field", ["name", "route", "source"])
def test_a_second_format_claiming_a_name_route_or_source_is_refused(field: str) -> None:
    fresh = {"name": "other", "route": "/pbx/other", "source": "other"}
    clash = dataclasses.replace(TWILIO, **{**fresh, field: getattr(STANDARD, field)})
    before = format_names()
    with pytest.raises(ValueError, match=f"reuses the {field} of 'standard'"):
        register(clash)
    assert format_names() == before


@pytest.mark.parametrize("change", [{"name": "x" * 17}, {"source": ""}, {"route": "pbx/x"}])
def test_a_format_that_does_not_fit_its_columns_or_has_no_path_is_refused(
        change: dict[str, str]) -> None:
    fresh = {"name": "other", "route": "/pbx/other", "source": "other"}
    with pytest.raises(ValueError, match=r"characters|is a path"):
        register(dataclasses.replace(TWILIO, **{**fresh, **change}))
    assert "other" not in format_names()


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownPbxFormat, match=r"unknown PBX format 'asterisk' "
                                               r"\(known: standard, twilio"):
        format_named("asterisk")
    with pytest.raises(UnknownPbxFormat):
        format_of_source("asterisk")


def test_the_webhook_routes_are_the_registered_ones() -> None:
    from chat.web.pbx_webhooks import routes

    assert [(r.path, r.methods) for r in routes] == [
        (f.route, {"POST"}) for f in formats()]


def test_the_cli_offers_every_registered_kind_and_refuses_others(
        capsys: pytest.CaptureFixture[str]) -> None:
    from chat.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["pbx", "secret", "add", "a"]).kind == "standard"
    assert parser.parse_args(["pbx", "secret", "add", "a", "--kind", "twilio"]).kind == "twilio"
    with pytest.raises(SystemExit):
        parser.parse_args(["pbx", "secret", "add", "a", "--kind", "asterisk"])
    assert "invalid choice: 'asterisk' (choose from" in capsys.readouterr().err


def test_docs_list_every_registered_format() -> None:
    text = (ROOT / "docs" / "pbx.md").read_text(encoding="utf-8")
    for pbx_format in formats():
        assert f"`{pbx_format.name}`" in text and f"`{pbx_format.route}`" in text
