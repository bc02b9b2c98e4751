"""SIGINT, SIGTERM and SIGHUP stop a run at a zone boundary, never in the middle of a write.

While a run holds the lock these signals raise `Interrupted` at once, except inside a
`critical()` section (one zone's provider write and its journal line, a journal append, the lock
release), where the signal is remembered and raised when the section ends. So the journal always
knows which zones were written, and a cancelled CI job or a dropped SSH session leaves a unit
that `invoke rollback` can undo. SIGKILL cannot be caught: the write-ahead journal covers it.

`pause()` is a seam for the test harness, not a mock: with CUTOVER_TEST_PAUSE=POINT=PATH in the
environment, the run writes PATH when it reaches POINT and waits there until PATH is removed or
a signal arrives, so a test can land a real signal at an exact point without timing races.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):  # noqa: N818 - reads as what happened
    """A signal stopped the run. A KeyboardInterrupt, so no `except Exception` (in a zone-file
    parser, a provider SDK) can turn it into a syntax or provider error, and asyncio re-raises
    it from a callback instead of logging it and going on (it does so for BaseException)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_depth = 0
_pending: int | None = None


def _handler(signum: int, frame: object) -> None:
    global _pending
    if _depth > 0:
        _pending = _pending or signum
        return
    raise Interrupted(signum)


def pending() -> int | None:
    return _pending


@contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for the duration of a run, then put the previous ones back."""
    global _pending
    previous = {s: signal.getsignal(s) for s in HANDLED}
    _pending = None
    for s in HANDLED:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def critical() -> Iterator[None]:
    """Defer the handled signals until the block is done; then raise the first one."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if _depth == 0 and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


def pause(point: str) -> None:
    """Wait at a named point when the test harness asks for it (see the module doc)."""
    spec = os.environ.get("CUTOVER_TEST_PAUSE", "")
    want, _, path = spec.partition("=")
    if not path or want != point:
        return
    marker = Path(path)
    marker.write_text(f"{os.getpid()} {point}\n")
    while marker.exists() and _pending is None:
        time.sleep(0.02)
