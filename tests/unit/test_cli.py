"""The ``tsunagu`` command's groups: each registers itself, and every command it adds runs
something (no subcommand without a ``func``)."""

from __future__ import annotations

import argparse

import pytest

from chat.cli import COMMAND_GROUPS, build_parser


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
            ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subactions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subactions:
        return [(path, parser)]
    return [leaf for action in subactions for name, child in action.choices.items()
            for leaf in _leaves(child, (*path, name))]


def test_every_command_runs_a_function() -> None:
    leaves = _leaves(build_parser())
    assert len(leaves) > 20
    for path, parser in leaves:
        assert callable(parser.get_default("func")), " ".join(path)


def test_groups_add_distinct_commands() -> None:
    seen: dict[str, str] = {}
    for group in COMMAND_GROUPS:
        sub = argparse.ArgumentParser().add_subparsers()
        group.register(sub)
        for name in sub.choices:
            assert name not in seen, f"{name} registered by {seen.get(name)} and {group}"
            seen[name] = group.__name__
    assert {"serve", "migrate", "device", "audit", "retention", "pbx"} <= set(seen)


def test_unknown_command_is_refused_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["no-such-command"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
