"""Shared fixtures: a copy of the demo project in a temporary directory, the CLI in a subprocess,
and real DNS servers (Knot, BIND, Unbound) from tests/servers.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers

REPO = Path(__file__).resolve().parent.parent


def copy_project(dest: Path) -> Path:
    """A user's infrastructure repo: environments/, demo/ and a one-line tasks.py."""
    for sub in ("environments", "demo"):
        shutil.copytree(REPO / sub, dest / sub)
    (dest / "tasks.py").write_text("from cutover.tasks import ns  # noqa: F401\n")
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "repo")


def run_cli(root: Path, *args: str, env: dict | None = None, timeout: float = 120, **kw):
    """Run the `cutover` program (the same Invoke collection) in `root`, no terminal attached."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env.pop("CUTOVER_ENV", None) if "CUTOVER_ENV" not in (env or {}) else None
    return subprocess.run(
        [sys.executable, "-c", "from cutover.cli import main; main()", *args],
        cwd=root,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def spawn_cli(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """The `cutover` program started in `root` and left running (for signals, pauses, locks)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", "from cutover.cli import main; main()", *args],
        cwd=root,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def cli(project: Path):
    def _run(*args: str, **kw):
        return run_cli(project, *args, **kw)

    return _run


def _factory(tmp_path_factory, start, label):
    """Start servers on demand for one test and stop them all at its end."""
    started: list = []

    def _start(arg):
        srv = start(tmp_path_factory.mktemp(label), arg)
        started.append(srv)
        return srv

    return _start, started


@pytest.fixture
def knot_factory(tmp_path_factory):
    """knot_factory({zone: zone_file_text}) -> a running Knot (tests/servers.py AuthServer)."""
    start, started = _factory(tmp_path_factory, servers.start_knot, "knot")
    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def bind_factory(tmp_path_factory):
    """bind_factory({zone: zone_file_text}) -> a running BIND (named -g)."""
    start, started = _factory(tmp_path_factory, servers.start_bind, "bind")
    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def unbound_factory(tmp_path_factory):
    """unbound_factory({zone: "127.0.0.1:port"}) -> a caching resolver with those stub zones."""
    start, started = _factory(tmp_path_factory, servers.start_unbound, "unbound")
    yield start
    for res in started:
        res.stop()


@pytest.fixture
def powerdns_factory(tmp_path_factory):
    """powerdns_factory({zone: zone_file_text}) -> a running PowerDNS (tests/powerdns.py)."""
    from tests.powerdns import start_powerdns

    start, started = _factory(tmp_path_factory, start_powerdns, "pdns")
    yield start
    for srv in started:
        srv.stop()
