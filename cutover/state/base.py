"""The state interface and what every backend shares: snapshot documents and their checksum,
the journal parser, lock descriptions, and where a backend's state lives (StateTarget).

A snapshot is the way back on a bad night, so it is self-describing (env, zone, stage, time,
tool version, every RRset it holds and every name/type that did not exist) and sealed with a
sha256 over its content: a file edited by hand or cut short is refused, not half-restored.

Reading state never fails on what a crash or a full disk leaves behind: a torn journal line is
skipped and described in `journal_problems`, a broken snapshot is listed as invalid, an empty
lock file is reported as such. Writing state fails loudly: `StateWriteError` (exit 3), one line
naming the path and the reason, and nothing half-written left behind.
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import re
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .. import __version__
from ..errors import ChecksFailed, LockHeld, StateWriteError, UsageError
from ..records import RRset

__all__ = [
    "StateBackend",
    "StateTarget",
    "StateWriteError",
    "decode_snapshot",
    "describe_holder",
    "lock_held_error",
    "lock_liveness",
    "parse_journal",
    "parse_lock",
]

#: A snapshot id (and a prefix of one) as the tool writes them: no path parts.
PLAIN_ID = re.compile(r"[A-Za-z0-9_:-][A-Za-z0-9_.:-]*")
#: An environment name: plain, no path parts (it becomes a directory or an S3 key part).
PLAIN_ENV = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


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


def require_sealed(doc: dict[str, Any]) -> str:
    """The id of a document about to be saved; a programming error when it is not sealed."""
    sid = doc["id"]
    try:
        verify_seal(doc, str(sid))
    except ChecksFailed:
        raise ValueError(f"save_snapshot({sid}): the document is not sealed") from None
    return sid


def verify_seal(doc: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("sha256") != hashlib.sha256(canonical(doc)).hexdigest():
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
    policies: dict[str, str | None] | None = None,
    sources: dict[str, list[dict[str, Any]]] | None = None,
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
    for zone, items in (sources or {}).items():  # how the host wrote RRsets the run deletes
        doc["zones"][zone]["source"] = items
    if policies:  # MTA-STS policy files as published before the run (domain -> text or None)
        doc["mta_sts"] = dict(sorted(policies.items()))
    return seal(doc)


# ------------------------------------------------------------------ reading what is stored


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_journal(data: bytes | str, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Journal entries from JSON lines, and a description of every line that was skipped.

    Never raises on content: a line cut short by a crash or a full disk, a line that is not
    JSON, not a JSON object or not UTF-8 is skipped and described as
    "<where>:<line>: torn or unreadable line skipped (<why>)". Blank lines are ignored.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    lines = data.split(b"\n")
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            why = "not UTF-8"
        else:
            try:
                obj = json.loads(text)
            except ValueError as exc:
                why = f"not JSON: {exc}"
            else:
                if isinstance(obj, dict):
                    entries.append(obj)
                    continue
                why = f"a JSON {_kind(obj)}, not an object"
        if n == len(lines):  # no newline after it: the write was cut short
            why = f"the last line, cut short: {why}"
        problems.append(f"{where}:{n}: torn or unreadable line skipped ({_one_line(why)})")
    return entries, problems


def decode_snapshot(data: bytes, where: str) -> dict[str, Any]:
    """A stored snapshot's document, or ChecksFailed (one line naming `where`)."""
    hint = "pick another snapshot with `invoke snapshots`"
    if not data.strip():
        raise ChecksFailed(f"snapshot {where} is empty; refusing to restore it", hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChecksFailed(
            f"snapshot {where} is not UTF-8 text; refusing to restore it", hint
        ) from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ChecksFailed(
            f"snapshot {where} is not valid JSON ({_one_line(exc)}); refusing to restore it", hint
        ) from None
    if not isinstance(doc, dict):
        raise ChecksFailed(
            f"snapshot {where} is a JSON {_kind(doc)}, not a snapshot document; "
            "refusing to restore it",
            hint,
        )
    verify_seal(doc, where)
    if not isinstance(doc.get("zones"), dict) or not isinstance(doc.get("id"), str):
        raise ChecksFailed(f"snapshot {where} has no id or zones; refusing to restore it", hint)
    return doc


def parse_lock(data: bytes, where: str) -> dict[str, Any]:
    """The holder a lock names, or {"corrupt": True, "detail": ..., "where": ...} for a lock
    file left empty or unreadable (a run that died, or a disk that filled, while taking it)."""

    def corrupt(detail: str) -> dict[str, Any]:
        return {"corrupt": True, "detail": detail, "where": where}

    if not data.strip():
        return corrupt("empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return corrupt("not UTF-8")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return corrupt(f"not JSON: {_one_line(exc)}")
    if not isinstance(doc, dict):
        return corrupt(f"a JSON {_kind(doc)}, not an object")
    return doc


# ------------------------------------------------------------------ locks: who holds them


def _proc_start_epoch(pid: int) -> tuple[str, float] | None:
    """(state letter, start time in seconds since the epoch) of a process, from Linux /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open("/proc/stat", "rb") as f:
            btime = next(
                int(line.split()[1])
                for line in f.read().decode().splitlines()
                if line.startswith("btime ")
            )
        fields = stat[stat.rindex(")") + 2 :].split()
        return fields[0], btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _epoch(started: Any) -> float | None:
    try:
        return datetime.strptime(str(started), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def lock_liveness(holder: dict[str, Any] | None) -> Literal["alive", "dead", "unknown"]:
    """Whether the run a lock names is still running: "dead" only when it says it ran on this
    host (same hostname, same pid namespace when recorded) and its pid is gone, a zombie, or now
    a process that started after the lock was taken (the pid was reused); "alive" when the pid
    runs here; "unknown" for another host, a corrupt lock, or no pid."""
    if not isinstance(holder, dict) or holder.get("corrupt"):
        return "unknown"
    if holder.get("host") != os.uname().nodename:
        return "unknown"
    if holder.get("pidns") and holder.get("pidns") != pid_namespace():
        return "unknown"  # same hostname, another container's pids
    pid = holder.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return "unknown"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass  # it exists, as another user
    except OSError:
        return "unknown"
    proc = _proc_start_epoch(pid)
    if proc is not None:
        state, started_at = proc
        if state == "Z":
            return "dead"
        taken = _epoch(holder.get("started"))
        if taken is not None and started_at > taken + 5:  # 5 s: /proc's btime is coarse
            return "dead"
    return "alive"


def pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def describe_holder(holder: dict[str, Any]) -> str:
    """Who holds a lock: `ci@runner (pid 42 on runner, since 2026-01-01T00:00:00Z, prepare)`."""
    g = holder.get
    return (
        f"{g('owner', '?')} (pid {g('pid', '?')} on {g('host', '?')}, since {g('started', '?')}"
        + (f", {g('task')}" if g("task") else "")
        + ")"
    )


def lock_held_error(holder: dict[str, Any] | None, where: str, env_name: str) -> LockHeld:
    """The one line LockHeld (exit 4) for a lock that is already there."""
    unlock = f"`invoke unlock --env {env_name}`"
    holder = holder or {}
    if holder.get("corrupt"):
        return LockHeld(
            f"environment {env_name}: lock file {where} is empty/unreadable "
            "(left by a run that died while taking it)",
            f"run {unlock} to remove it",
        )
    msg = f"environment {env_name} is locked by {describe_holder(holder)}, lock {where}"
    live = lock_liveness(holder)
    if live == "dead":
        return LockHeld(
            f"{msg}; stale: pid {holder.get('pid')} is not running on this host",
            f"remove it with {unlock}",
        )
    if live == "alive":
        return LockHeld(msg, f"wait for it to finish; if it hangs, stop it, then run {unlock}")
    return LockHeld(msg, f"wait for it, or if it is stale run {unlock}")


# ------------------------------------------------------------------ writing


def os_reason(exc: OSError) -> str:
    """An OSError as `No space left on device (ENOSPC)`."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


def write_error(what: str, where: str | Path, exc: OSError) -> StateWriteError:
    reason = os_reason(exc)
    return StateWriteError(
        f"cannot write the {what} {where}: {reason}",
        "free space (or fix the file system) there, then see `invoke status`",
        path=str(where),
        reason=reason,
    )


# ------------------------------------------------------------------ where the state lives


@dataclass(frozen=True)
class StateTarget:
    """Everything a backend needs, without a full Environment (rollback from `--state`).

    `backend` is "local" or "s3"; `options` the state options (s3: bucket, prefix, region);
    `directory` the local state directory (the folder holding journal.jsonl; None for s3);
    `label` how messages name where this state was configured ("envs/prod.yaml: state.bucket",
    "--state s3://bucket/prefix").
    """

    env_name: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    directory: Path | None = None
    label: str = ""

    @property
    def name(self) -> str:  # what `state.env.name` meant when `env` was an Environment
        return self.env_name

    @classmethod
    def of(cls, env: Any) -> StateTarget:
        """The target of an Environment (or a StateTarget, returned as it is)."""
        if isinstance(env, StateTarget):
            return env
        backend = env.state.backend
        return cls(
            env_name=env.name,
            backend=backend,
            options=dict(env.state.options),
            directory=Path(env.state_dir) if backend == "local" else None,
            label=f"{env.path}: state.bucket" if backend == "s3" else f"{env.path}: state",
        )


class StateBackend(ABC):
    """Snapshots (immutable), an append-only journal, one lock per environment, and a copy of
    the settings a rollback needs. Build one with `get_state(env)` or `state_at(spec, name)`.

    `env` is what it was built from (an Environment or a StateTarget: both have `.name`);
    `journal_problems` describes the lines the last `read_journal()` skipped.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.target = StateTarget.of(env)
        self.journal_problems: list[str] = []

    @property
    def env_name(self) -> str:
        return self.target.env_name

    # -------------------------------------------------------------- snapshots

    @abstractmethod
    def save_snapshot(self, doc: dict[str, Any]) -> str:
        """Store a sealed snapshot durably, read it back and verify it; its id.

        StateWriteError (exit 3) when it cannot be written whole or the id already exists."""

    def load_snapshot(self, sid: str) -> dict[str, Any]:
        """A snapshot by id, unique id prefix, or "latest" (the newest valid one a stage took,
        never one a rollback took: "put it back as the last stage found it").

        UsageError (exit 2) for an unknown or ambiguous id; ChecksFailed (exit 1) for a stored
        file that is not a sealed snapshot document."""
        where = self.snapshots_location
        hint = f"list them with `invoke snapshots --env {self.env_name}`"
        if sid == "latest":
            valid = [
                stem
                for stem, doc, _ in self._scan()
                if doc is not None and doc.get("stage") != "rollback"
            ]
            if not valid:
                raise UsageError(f"no valid snapshot in {where}", hint)
            sid = valid[-1]
        if not isinstance(sid, str) or not PLAIN_ID.fullmatch(sid):
            raise UsageError(f"no snapshot {sid!r} in {where}", hint)
        data = self._snapshot_bytes(sid)
        if data is None:
            matches = [i for i in self._snapshot_ids() if i.startswith(sid)]
            if len(matches) > 1:
                shown = ", ".join(matches[:3]) + (", …" if len(matches) > 3 else "")
                raise UsageError(
                    f"snapshot {sid!r} is ambiguous in {where}: {len(matches)} ids start with "
                    f"it ({shown})",
                    f"give more of the id; {hint}",
                )
            if matches:
                sid = matches[0]
                data = self._snapshot_bytes(sid)
            if data is None:
                raise UsageError(f"no snapshot {sid!r} in {where}", hint)
        return decode_snapshot(data, self.snapshot_location(sid))

    def list_snapshots(self) -> list[dict[str, Any]]:
        """Snapshot documents, oldest first, each with "valid"; a stored file that is not a
        sealed snapshot is {"id": <file stem>, "valid": False, "problem": <why>}."""
        out = []
        for stem, doc, problem in self._scan():
            if doc is None:
                out.append({"id": stem, "valid": False, "problem": problem})
            else:
                out.append({**doc, "valid": True})
        return out

    def _scan(self) -> list[tuple[str, dict[str, Any] | None, str | None]]:
        out: list[tuple[str, dict[str, Any] | None, str | None]] = []
        for stem in self._snapshot_ids():
            try:
                data = self._snapshot_bytes(stem)
                if data is None:
                    raise ChecksFailed(f"snapshot {self.snapshot_location(stem)} vanished")
                out.append((stem, decode_snapshot(data, self.snapshot_location(stem)), None))
            except (ChecksFailed, OSError) as exc:
                out.append((stem, None, getattr(exc, "message", None) or str(exc)))
        return out

    @property
    @abstractmethod
    def snapshots_location(self) -> str:
        """Where snapshots are kept, for messages."""

    @abstractmethod
    def snapshot_location(self, sid: str) -> str: ...

    @abstractmethod
    def _snapshot_ids(self) -> list[str]:
        """The stored snapshot ids (file stems), sorted (= oldest first)."""

    @abstractmethod
    def _snapshot_bytes(self, sid: str) -> bytes | None:
        """A stored snapshot's bytes, None when there is none by that exact id."""

    # -------------------------------------------------------------- journal

    @abstractmethod
    def append_journal(self, entry: dict[str, Any]) -> None:
        """Append one JSON line, durably, before returning; StateWriteError when it cannot."""

    @abstractmethod
    def read_journal(self) -> list[dict[str, Any]]:
        """Every readable entry; skipped lines are described in `self.journal_problems`."""

    # -------------------------------------------------------------- lock

    @abstractmethod
    def acquire_lock(self, info: dict[str, Any]) -> None:
        """Take the environment's lock or raise LockHeld naming the holder (and whether it is
        stale); StateWriteError when it cannot be written. Never leaves a partial lock."""

    @abstractmethod
    def release_lock(self) -> None: ...

    @abstractmethod
    def read_lock(self) -> dict[str, Any] | None:
        """None only when there is no lock; a corrupt one is {"corrupt": True, "detail": ...}."""

    @abstractmethod
    def break_lock(self) -> None: ...

    def remove_stale_temps(self) -> list[str]:
        """Remove temporary files a killed run left behind (only while this instance holds the
        lock); where they were. Backends that write no temporary files have none."""
        return []

    @property
    @abstractmethod
    def lock_location(self) -> str:
        """Where the lock is, for messages."""

    # -------------------------------------------------------------- settings copy

    @abstractmethod
    def save_settings(self, doc: dict[str, Any]) -> None:
        """Keep `doc` (the settings a rollback needs; never a secret) as settings.json next to
        the journal, replacing the previous copy durably; StateWriteError when it cannot."""

    @abstractmethod
    def load_settings(self) -> dict[str, Any] | None:
        """The kept settings, or None when there are none or they cannot be read."""
