"""Tsunagu installed from its wheel, as docs/deploy.md installs it: not from the source
folder. The wheel is built from a copy of this release, installed (no index, no network)
into a fresh venv, and run from an empty folder: `tsunagu migrate` finds the migrations,
`seed-demo` runs, and `tsunagu serve` serves the pages, every file of the client and the
console (their subfolders too, vendored Leaflet's LICENSE included) and ``/readyz``.

SQLite only: what is tested is what the wheel carries and where the installed code looks
for it, which is the same for both databases (PostgreSQL's migrations run from the same
folder in test_migrations.py); a node on PostgreSQL would add a minute and test nothing
more here."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import REPO_ROOT

#: What the wheel is built from: the packages and the project's metadata.
SOURCE = ("chat", "admin", "web_client", "pyproject.toml", "README.md")
#: Folders whose every file the running app serves or opens, and the URL each is under.
SERVED = {"web_client/static": "/static", "admin/static": "/admin/static"}


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done


def source_files(folder: str) -> list[Path]:
    root = REPO_ROOT / folder
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This release's wheel, built from a copy (a build in the checkout would leave
    ``build/`` behind, and its stale files would go into the next wheel unnoticed)."""
    import setuptools

    assert tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (77, 0), (
        "the build needs setuptools>=77 in this venv (pip install -e '.[test]')")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCE:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheelhouse")
    # No build isolation: it would download setuptools; this venv's is used instead.
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "--quiet", "--wheel-dir", out, src, cwd=src)
    (built,) = out.glob("tsunagu-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed by pip, its dependencies taken from this
    venv (a .pth line adds this venv's site-packages after the new one's, without the
    editable install's finder, which only this venv's own start-up loads)."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=venv, env=clean_env()).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel,
        cwd=venv, env=clean_env())
    return venv


def clean_env(**settings: str) -> dict[str, str]:
    """No CHAT_* setting and no PYTHONPATH (which would import the checkout's code)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHAT_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(settings)
    return env


def test_the_wheel_carries_every_file_of_the_packages(wheel: Path) -> None:
    """Every file of chat/, admin/ and web_client/ (the migrations, the client's
    subfolders, the templates, Leaflet's LICENSE) is in the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        carried = set(archive.namelist())
    missing = [str(p.relative_to(REPO_ROOT)) for folder in ("chat", "admin", "web_client")
               for p in source_files(folder)
               if p.relative_to(REPO_ROOT).as_posix() not in carried]
    assert missing == []


@pytest.fixture
def node(venv: Path, tmp_path: Path) -> Iterator[str]:
    """The installed `tsunagu` migrated, seeded and serving, run from an empty folder."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = clean_env(CHAT_VAR_DIR=str(tmp_path / "var"), CHAT_OFF_HOURS_POLICY="off")
    tsunagu = venv / "bin" / "tsunagu"
    imported = run(venv / "bin" / "python", "-c",
                   "import chat, admin, web_client; "
                   "print(chat.__file__, admin.__file__, web_client.__file__)",
                   cwd=cwd, env=env).stdout.split()
    assert all(Path(f).is_relative_to(venv) for f in imported), imported
    migrated = run(tsunagu, "migrate", cwd=cwd, env=env)
    assert "database migrated" in migrated.stdout, migrated.stdout
    run(tsunagu, "seed-demo", cwd=cwd, env=env)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([str(tsunagu), "serve", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the installed node did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)   # not listening yet
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_the_installed_release_migrates_and_serves_from_anywhere(node: str) -> None:
    with httpx.Client(base_url=node, timeout=10) as http:
        assert http.get("/readyz").status_code == 200
        page = http.get("/")
        assert page.status_code == 200 and "/static/" in page.text
        assert http.get("/enroll").status_code == 200
        assert http.get("/sw.js").status_code == 200
        console = http.get("/admin")
        assert console.status_code == 200 and "/admin/static/" in console.text
        served = 0
        for folder, prefix in SERVED.items():
            for path in source_files(folder):
                name = path.relative_to(REPO_ROOT / folder).as_posix()
                answer = http.get(f"{prefix}/{name}")
                assert answer.status_code == 200, f"{prefix}/{name}: {answer.status_code}"
                assert answer.content == path.read_bytes(), name
                served += 1
        # The subfolders the old wheel left out are among them.
        assert http.get("/static/vendor/leaflet/leaflet.js").status_code == 200
        assert served > 60
