"""State in `.cutover/<env>/`: snapshots as 0600 JSON files, journal.jsonl, and a lock file.

Snapshots are created with O_EXCL and never overwritten; the journal is appended one line per
event with an fsync; the lock is a file created with O_EXCL that names its holder, so a second
run fails at once and says who holds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ChecksFailed, LockHeld
from .base import StateBackend, parse_journal, verify_seal


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalState(StateBackend):
    def __init__(self, env) -> None:
        super().__init__(env)
        self.dir = Path(env.state_dir)
        self.snapshots = self.dir / "snapshots"
        self.journal = self.dir / "journal.jsonl"
        self.lock = self.dir / "lock"

    def _ensure(self) -> None:
        self.snapshots.mkdir(parents=True, exist_ok=True, mode=0o700)

    def save_snapshot(self, doc: dict[str, Any]) -> str:
        self._ensure()
        _write_new(self.snapshots / f"{doc['id']}.json", json.dumps(doc, indent=1).encode())
        return doc["id"]

    def load_snapshot(self, sid: str) -> dict[str, Any]:
        path = self.snapshots / f"{sid}.json"
        if "/" in sid or not path.is_file():
            raise ChecksFailed(
                f"no snapshot {sid!r} in {self.snapshots}", "list them with `invoke snapshots`"
            )
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            raise ChecksFailed(f"snapshot {path} is not valid JSON: {exc}") from exc
        return verify_seal(doc, str(path))

    def list_snapshots(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.snapshots.glob("*.json")) if self.snapshots.is_dir() else []:
            try:
                doc = json.loads(path.read_text())
                verify_seal(doc, str(path))
                doc["valid"] = True
            except (ValueError, ChecksFailed):
                doc = {"id": path.stem, "valid": False}
            out.append(doc)
        return out

    def append_journal(self, entry: dict[str, Any]) -> None:
        self._ensure()
        line = json.dumps(entry, sort_keys=True) + "\n"
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_journal(self) -> list[dict[str, Any]]:
        if not self.journal.is_file():
            return []
        return parse_journal(self.journal.read_text(), str(self.journal))

    def acquire_lock(self, info: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            _write_new(self.lock, json.dumps(info).encode())
        except FileExistsError:
            holder = self.read_lock() or {}
            raise LockHeld(
                f"environment {self.env.name} is locked by {holder.get('owner', '?')} "
                f"(pid {holder.get('pid', '?')}, since {holder.get('started', '?')})",
                f"wait for it, or if it is stale run `invoke unlock --env {self.env.name}`",
            ) from None

    def release_lock(self) -> None:
        self.lock.unlink(missing_ok=True)

    def read_lock(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.lock.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def break_lock(self) -> None:
        self.release_lock()
