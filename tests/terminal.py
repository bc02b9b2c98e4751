"""The real CLI on a pseudo-terminal, answering its confirmation prompt like a person would."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable

from tests.conftest import REPO


def run_on_terminal(
    project,
    *args: str,
    answer: str = "y",
    env: dict | None = None,
    on_prompt: Callable[[], None] | None = None,
    timeout: float = 60,
) -> tuple[int, str]:
    """Run `cutover ARGS` on a pty; at the `[y/n]` prompt call `on_prompt()` (e.g. make drift),
    then type `answer`. Returns (exit code, everything the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cutover.cli import main; main()", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO), "TERM": "dumb", **(env or {})},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    answered = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                out += os.read(master, 4096)
            except OSError:
                break
            if not answered and b"[y/n]" in out:
                if on_prompt is not None:
                    on_prompt()
                os.write(master, answer.encode() + b"\n")
                answered = True
        proc.wait(10)
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 4096):
                out += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert answered, out.decode(errors="replace")
    return proc.returncode, out.decode(errors="replace")
