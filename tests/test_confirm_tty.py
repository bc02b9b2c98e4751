"""On a terminal, applying tasks show the plan and ask; only a yes applies."""

import os
import pty
import subprocess
import sys
import time

from tests.conftest import REPO
from tests.lifecycle_helpers import zone_state


def _run_on_terminal(project, answer: str, *args: str) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cutover.cli import main; main()", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO), "TERM": "dumb"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 30
    answered = False
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        out += chunk
        if not answered and b"[y/n]" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
    proc.wait(10)
    try:
        while chunk := os.read(master, 4096):
            out += chunk
    except OSError:
        pass
    os.close(master)
    return proc.returncode, out.decode(errors="replace")


def test_terminal_shows_plan_and_no_applies_nothing(project):
    before = zone_state(project, "example.com")
    code, out = _run_on_terminal(project, "n", "prepare", "--env", "demo")
    assert "+ selector1._domainkey CNAME" in out and "Apply prepare to 2 zone(s)?" in out
    assert code == 2 and "not confirmed" in out
    assert zone_state(project, "example.com") == before


def test_terminal_yes_applies(project):
    code, out = _run_on_terminal(project, "y", "prepare", "--env", "demo")
    assert code == 0, out
    assert zone_state(project, "example.com")[("example.com.", "MX")][0] == 5
