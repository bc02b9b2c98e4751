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


@pytest.fixture
def cli(project: Path):
    def _run(*args: str, **kw):
        return run_cli(project, *args, **kw)

    return _run


@pytest.fixture
def knot_factory(tmp_path_factory):
    started: list[servers.AuthServer] = []

    def _start(zone_files: dict[str, str]) -> servers.AuthServer:
        srv = servers.start_knot(tmp_path_factory.mktemp("knot"), zone_files)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop()


@pytest.fixture
def bind_factory(tmp_path_factory):
    started: list[servers.AuthServer] = []

    def _start(zone_files: dict[str, str]) -> servers.AuthServer:
        srv = servers.start_bind(tmp_path_factory.mktemp("bind"), zone_files)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop()


@pytest.fixture
def unbound_factory(tmp_path_factory):
    started: list[servers.Resolver] = []

    def _start(stubs: dict[str, str]) -> servers.Resolver:
        res = servers.start_unbound(tmp_path_factory.mktemp("unbound"), stubs)
        started.append(res)
        return res

    yield _start
    for res in started:
        res.stop()
