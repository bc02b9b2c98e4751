"""The state interface and what every backend shares: snapshot documents and their checksum.

A snapshot is the way back on a bad night, so it is self-describing (env, zone, stage, time,
tool version, every RRset it holds and every name/type that did not exist) and sealed with a
sha256 over its content: a file edited by hand or cut short is refused, not half-restored.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..errors import ChecksFailed
from ..records import RRset


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def seal(doc: dict[str, Any]) -> dict[str, Any]:
    doc["sha256"] = hashlib.sha256(canonical(doc)).hexdigest()
    return doc


def verify_seal(doc: dict[str, Any], where: str) -> dict[str, Any]:
    if doc.get("sha256") != hashlib.sha256(canonical(doc)).hexdigest():
        raise ChecksFailed(
            f"snapshot {where}: checksum does not match its content; refusing to restore it",
            "pick another snapshot with `invoke snapshots`",
        )
    return doc


def new_snapshot(
    env: str,
    stage: str,
    zones: dict[str, tuple[list[RRset], list[tuple[str, str]]]],
    archives: dict[str, list[RRset]] | None = None,
) -> dict[str, Any]:
    """A sealed snapshot document: for each zone, the RRsets as they were and the absent keys.

    `archives` (zone -> every RRset of the zone) is kept under "zone" for the record and for a
    hand restore; rollback restores only "rrsets" and "absent", what the stage touched.
    """
    now = utcnow()
    body = json.dumps({z: [r.to_dict() for r in v[0]] for z, v in zones.items()}, sort_keys=True)
    sid = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{stage}-{hashlib.sha256(body.encode()).hexdigest()[:6]}"
    doc = {
        "id": sid,
        "env": env,
        "stage": stage,
        "created": iso(now),
        "tool_version": __version__,
        "zones": {
            zone: {
                "rrsets": [r.to_dict() for r in rrsets],
                "absent": [list(k) for k in sorted(absent)],
            }
            for zone, (rrsets, absent) in sorted(zones.items())
        },
    }
    for zone, rrsets in (archives or {}).items():
        doc["zones"][zone]["zone"] = [r.to_dict() for r in rrsets]
    return seal(doc)


def parse_journal(text: str, where: str) -> list[dict[str, Any]]:
    """Journal entries from JSON lines; a line that does not parse is refused, never skipped."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError as exc:
            raise ChecksFailed(f"{where}:{n}: not a JSON line: {exc}") from exc
    return out


class StateBackend(ABC):
    """Snapshots (immutable), an append-only journal, and one lock per environment."""

    def __init__(self, env) -> None:
        self.env = env

    @abstractmethod
    def save_snapshot(self, doc: dict[str, Any]) -> str: ...

    @abstractmethod
    def load_snapshot(self, sid: str) -> dict[str, Any]: ...

    @abstractmethod
    def list_snapshots(self) -> list[dict[str, Any]]:
        """Snapshot documents, oldest first."""

    @abstractmethod
    def append_journal(self, entry: dict[str, Any]) -> None: ...

    @abstractmethod
    def read_journal(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def acquire_lock(self, info: dict[str, Any]) -> None:
        """Take the environment's lock or raise LockHeld naming the holder."""

    @abstractmethod
    def release_lock(self) -> None: ...

    @abstractmethod
    def read_lock(self) -> dict[str, Any] | None: ...

    @abstractmethod
    def break_lock(self) -> None: ...
