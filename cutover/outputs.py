"""Files the tasks write for the user (JUnit XML, audit reports) and ports they listen on:
a bad path or port is one line naming the flag, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError


def write_file(path: str, data: str | bytes, flag: str) -> None:
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a directory", "give a file name")
    if not target.parent.is_dir():
        raise UsageError(f"{flag} {path}: no directory {target.parent}", "create it first")
    try:
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write: {exc.strerror}") from None


def port_number(value: object, flag: str = "--port") -> int:
    try:
        port = int(str(value))
    except ValueError:
        raise UsageError(f"{flag} {value}: not a number", "give a port from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{flag} {value}: out of range", "give a port from 1 to 65535")
    return port
