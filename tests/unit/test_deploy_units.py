"""deploy/: the systemd units are valid to systemd itself (`systemd-analyze verify`, which
needs no systemd running), ask for what docs/deploy.md promises (the env file, the
hardening, a drain-long stop, migration first), run real `tsunagu` commands, and
deploy/tsunagu.env.example names every CHAT_* setting and is itself a valid configuration.
nginx's file is run for real by tests/integration/test_deploy_nginx.py."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chat.cli import build_parser
from chat.config import Settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
ENV_EXAMPLE = ROOT / "deploy" / "tsunagu.env.example"
TSUNAGU = "/opt/tsunagu/current/venv/bin/tsunagu"
SERVICES = sorted(UNITS.glob("*.service"))
TIMERS = sorted(UNITS.glob("*.timer"))


def directives(unit: Path) -> dict[str, list[str]]:
    """``Section.Key`` → every value it is given (systemd allows a key more than once,
    which configparser does not)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def one(unit: Path, key: str) -> str:
    values = directives(unit).get(key, [])
    assert len(values) == 1, f"{unit.name}: {key} is {values}"
    return values[0]


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    """systemd's own parser, on copies whose tsunagu path is an executable that exists
    here (verify checks ExecStart binaries); any warning (an unknown key, a bad value)
    fails the test, not only an error."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    for unit in [*SERVICES, *TIMERS]:
        text = unit.read_text(encoding="utf-8").replace(TSUNAGU, sys.executable)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    names = [s.name.replace("@.service", "@8001.service") for s in SERVICES]
    names += [t.name for t in TIMERS]
    result = subprocess.run([analyze, "verify", "--man=no", *[f"./{n}" for n in names]],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            check=False)
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr


def test_every_timer_starts_a_service_of_its_own_name() -> None:
    # systemd-analyze verify does not notice a timer whose service is missing.
    assert TIMERS
    for timer in TIMERS:
        assert (UNITS / timer.name.replace(".timer", ".service")).exists(), timer.name
        assert one(timer, "Timer.OnCalendar")
        assert one(timer, "Timer.Persistent") == "yes"
        assert one(timer, "Install.WantedBy") == "timers.target"


def test_every_service_runs_as_tsunagu_with_the_env_file_and_hardening() -> None:
    for service in SERVICES:
        assert one(service, "Service.User") == "tsunagu", service.name
        # The deployment's settings first; a node may add its own (its metrics port).
        env_files = directives(service)["Service.EnvironmentFile"]
        assert env_files[0] == "/etc/tsunagu/tsunagu.env", service.name
        assert all(f.startswith("-/etc/tsunagu/") for f in env_files[1:]), service.name
        assert one(service, "Service.WorkingDirectory") == "/var/lib/tsunagu"
        for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                           ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                           ("PrivateDevices", "yes"), ("CapabilityBoundingSet", "")]:
            assert one(service, f"Service.{key}") == value, (service.name, key)


def test_the_node_template_serves_its_instance_port_and_drains_on_stop() -> None:
    node = UNITS / "tsunagu@.service"
    assert one(node, "Service.ExecStart") == f"{TSUNAGU} serve --port %i"
    assert one(node, "Service.KillSignal") == "SIGTERM"
    assert int(one(node, "Service.TimeoutStopSec")) >= 30
    assert one(node, "Service.Restart") == "on-failure"
    assert "/var/lib/tsunagu" in one(node, "Service.ReadWritePaths").split()
    assert int(one(node, "Service.LimitNOFILE")) >= 65536
    # Migration first, but its restart at an upgrade must not restart every node.
    assert "tsunagu-migrate.service" in one(node, "Unit.After").split()
    assert "tsunagu-migrate.service" in one(node, "Unit.Wants").split()
    assert "Unit.Requires" not in directives(node)
    migrate = UNITS / "tsunagu-migrate.service"
    assert one(migrate, "Service.Type") == "oneshot"
    assert one(migrate, "Service.ExecStart") == f"{TSUNAGU} migrate"


def tsunagu_commands() -> dict[str, list[str]]:
    """Each service's tsunagu arguments (ExecStart), by unit name."""
    commands = {}
    for service in SERVICES:
        argv = shlex.split(one(service, "Service.ExecStart"))
        assert argv[0] == TSUNAGU, service.name
        commands[service.name] = [a.replace("%i", "8001") for a in argv[1:]]
    return commands


def cli_commands(parser: argparse.ArgumentParser) -> set[str]:
    return next(set(action.choices) for action in parser._actions
                if isinstance(action, argparse._SubParsersAction))


def test_every_service_runs_a_command_the_cli_has() -> None:
    parser = build_parser()
    commands = tsunagu_commands()
    assert set(commands) >= {"tsunagu@.service", "tsunagu-migrate.service",
                             "tsunagu-audit-verify.service", "tsunagu-audit-anchor.service",
                             "tsunagu-backup.service"}
    for name, argv in commands.items():
        if argv[0] not in cli_commands(parser):
            assert argv[0] == "backup", name   # `tsunagu backup` lands with docs/backup.md
            continue
        parser.parse_args(argv)


def test_the_env_example_names_every_setting_and_is_valid() -> None:
    source = (ROOT / "chat" / "config.py").read_text(encoding="utf-8")
    settings = set(re.findall(r'"(CHAT_[A-Z0-9_]+)"', source))
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    named = set(re.findall(r"^#?(CHAT_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert sorted(settings - named) == [], "settings missing from tsunagu.env.example"
    assert sorted(named - settings) == [], "tsunagu.env.example names unknown settings"
    env = dict(line.split("=", 1) for line in text.splitlines()
               if line and not line.startswith("#"))
    configured = Settings.from_env(env)
    assert configured.public_origin.startswith("https://")
    assert configured.forwarded_allow_ips and configured.bus_url.startswith("redis://")
    # What the nginx file's client_max_body_size must stay above.
    nginx = (ROOT / "deploy" / "nginx" / "tsunagu.conf").read_text(encoding="utf-8")
    limit = re.search(r"client_max_body_size\s+(\d+)m;", nginx)
    assert limit and int(limit.group(1)) * 1024 * 1024 > configured.max_upload_bytes


def test_the_cli_wrapper_reads_the_units_env_file_and_folder() -> None:
    """deploy/tsunagu-cli runs commands by hand as the units do: same user, same
    settings, same folder, same executable."""
    wrapper = ROOT / "deploy" / "tsunagu-cli"
    assert subprocess.run(["sh", "-n", str(wrapper)], check=False).returncode == 0
    text = wrapper.read_text(encoding="utf-8")
    node = UNITS / "tsunagu@.service"
    assert f". {directives(node)['Service.EnvironmentFile'][0]}" in text
    assert f"cd {one(node, 'Service.WorkingDirectory')}" in text
    assert f'exec {TSUNAGU} "$@"' in text
    assert f"-u {one(node, 'Service.User')} --" in text
