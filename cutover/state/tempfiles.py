"""The names of the state directory's temporary files, and which ones a killed run left behind.

A durable write goes through a temporary file (`.<stem>.<host>.<pid>.<random>.tmp`), then a
rename or link. SIGKILL or a power cut between the two leaves the file behind for good. The name
says which process on which host wrote it, so the next run that holds the lock can tell a dead
writer's file (safe to remove) from one a live process is still writing: one that is taking the
lock right now, or a run whose lock someone broke with `unlock`. Anything else is left alone: a
name not in this pattern, a file from another host or container, a pid that still runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path

from .base import iso, lock_liveness, pid_namespace

#: `.<stem>.<host tag>.<pid>.<8 hex>.tmp`, as `temp_name` writes it.
PATTERN = re.compile(
    r"\.(?P<stem>.+)\.(?P<tag>[0-9a-f]{8})\.(?P<pid>[1-9][0-9]*)\.[0-9a-f]{8}\.tmp"
)


def host_tag() -> str:
    """Eight hex digits for this host and pid namespace: a pid means something only there."""
    me = f"{os.uname().nodename}\0{pid_namespace() or ''}"
    return hashlib.sha256(me.encode()).hexdigest()[:8]


def temp_name(stem: str) -> str:
    """A new temporary file name for `stem` written by this process."""
    return f".{stem}.{host_tag()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def is_stale(path: Path) -> bool:
    """True only for a regular file named by `temp_name` on this host whose writer is dead (its
    pid is gone, a zombie, or reused by a process that started after the file was written)."""
    m = PATTERN.fullmatch(path.name)
    if m is None or m["tag"] != host_tag():
        return False
    try:
        st = path.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    writer = {
        "host": os.uname().nodename,
        "pidns": pid_namespace(),
        "pid": int(m["pid"]),
        "started": iso(datetime.fromtimestamp(st.st_mtime, UTC)),
    }
    return lock_liveness(writer) == "dead"


def remove_stale(folders: list[Path]) -> list[str]:
    """Remove the stale temporary files directly in `folders`; the paths removed. The caller
    holds the lock, so no other run can be about to rename one of them into place."""
    removed = []
    for folder in folders:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            if not is_stale(path):
                continue
            try:
                path.unlink()
            except OSError:
                continue  # gone already, or not ours to remove: leave it be
            removed.append(str(path))
    return removed
