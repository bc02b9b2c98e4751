"""State in a directory (default `.cutover/<env>/`): snapshots as 0600 JSON files, journal.jsonl,
settings.json and a lock file.

Every write is durable and checked, because the disk fills up on the night it matters:

- snapshots: written whole (every byte, length checked) to a temp file, fsynced, linked into
  place (so an existing id is never overwritten), the directory fsynced, then read back and
  its seal verified. A failure removes the temp file: no half snapshot is ever left behind.
- journal: one JSON line per event, appended whole and fsynced before `append_journal`
  returns; a line cut short by an earlier crash gets a newline first, so the new entry stands
  on its own line. A write that fails midway is taken back (truncated) when nothing else was
  appended since.
- lock: the holder's info written whole to a temp file, fsynced, then `link()`ed to `lock`,
  which fails atomically when a lock exists. A lock file is therefore never empty or partial.
- settings.json: temp file, fsync, rename over the previous copy, fsync the directory.

Temporary files are named by tempfiles.py, so the next run holding the lock can remove those a
killed run left behind (`remove_stale_temps`) without touching a live writer's.

Any OSError (ENOSPC, EIO, EFBIG under RLIMIT_FSIZE, EROFS) becomes StateWriteError (exit 3).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ChecksFailed, ProviderError, StateWriteError
from ..signals import pause
from .base import (
    StateBackend,
    decode_snapshot,
    lock_held_error,
    os_reason,
    parse_journal,
    parse_lock,
    pid_namespace,
    require_sealed,
    write_error,
)
from .tempfiles import remove_stale, temp_name

#: link() errors that mean "this file system has no hard links" rather than a real failure.
NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (os.write may write fewer, e.g. at RLIMIT_FSIZE or a full disk)."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        n = os.write(fd, view[done:])
        if n <= 0:
            raise OSError(errno.EIO, "short write: the file system accepted no more bytes")
        done += n


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # a file system that cannot sync directories
            raise
    finally:
        os.close(fd)


def _write_temp(directory: Path, stem: str, data: bytes) -> Path:
    """A new 0600 file in `directory` holding exactly `data`, fsynced; removed on failure."""
    tmp = directory / temp_name(stem)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(fd, data)
        size = os.fstat(fd).st_size
        if size != len(data):
            raise OSError(errno.EIO, f"wrote {size} of {len(data)} bytes")
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


class LocalState(StateBackend):
    def __init__(self, env: Any) -> None:
        super().__init__(env)
        if self.target.directory is None:
            raise ValueError("a local state backend needs a directory")
        self.dir = Path(self.target.directory)
        self.snapshots = self.dir / "snapshots"
        self.journal = self.dir / "journal.jsonl"
        self.lock = self.dir / "lock"
        self.settings = self.dir / "settings.json"
        self._lock_data: bytes | None = None

    def _mkdir(self, path: Path) -> None:
        """Create `path` (0700) and its missing parents, each new entry fsynced in its parent."""
        if path.is_dir():
            return
        missing = [path, *(p for p in path.parents if not p.exists())]
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for created in reversed(missing):
            _fsync_dir(created.parent)

    # ------------------------------------------------------------------ snapshots

    @property
    def snapshots_location(self) -> str:
        return f"{self.snapshots}/"

    def snapshot_location(self, sid: str) -> str:
        return str(self.snapshots / f"{sid}.json")

    def _snapshot_ids(self) -> list[str]:
        if not self.snapshots.is_dir():
            return []
        return sorted(p.stem for p in self.snapshots.glob("*.json") if not p.name.startswith("."))

    def _snapshot_bytes(self, sid: str) -> bytes | None:
        try:
            return (self.snapshots / f"{sid}.json").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ProviderError(
                f"cannot read snapshot {self.snapshots / f'{sid}.json'}: {os_reason(exc)}"
            ) from exc

    def save_snapshot(self, doc: dict[str, Any]) -> str:
        sid = require_sealed(doc)
        final = self.snapshots / f"{sid}.json"
        data = json.dumps(doc, indent=1).encode()
        linked = False
        try:
            self._mkdir(self.snapshots)
            if os.path.lexists(final):
                raise FileExistsError(errno.EEXIST, "exists", str(final))
            tmp = _write_temp(self.snapshots, sid, data)
            try:
                pause("snapshot-temp-written")
                try:
                    os.link(tmp, final)  # fails if the id exists: never overwrite a snapshot
                except OSError as exc:
                    if exc.errno not in NO_LINKS:
                        raise
                    if os.path.lexists(final):  # no hard links here; writers hold the lock
                        raise FileExistsError(errno.EEXIST, "exists", str(final)) from None
                    os.rename(tmp, final)
                linked = True
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(self.snapshots)
            back = final.read_bytes()
        except FileExistsError:
            raise StateWriteError(
                f"snapshot {final} already exists; not overwriting it", path=str(final)
            ) from None
        except OSError as exc:
            if linked:
                with contextlib.suppress(OSError):
                    final.unlink()
            raise write_error("snapshot", final, exc) from exc
        try:
            got = decode_snapshot(back, str(final))
            if got.get("sha256") != doc.get("sha256"):
                raise ValueError("another document")
        except (ValueError, ChecksFailed) as exc:
            with contextlib.suppress(OSError):
                final.unlink()
            why = getattr(exc, "message", None) or str(exc)
            raise StateWriteError(
                f"snapshot {final} did not read back intact ({why}); it was removed",
                "check the disk holding the state directory, then run again",
                path=str(final),
                reason=why,
            ) from None
        return sid

    # ------------------------------------------------------------------ journal

    def append_journal(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        try:
            self._mkdir(self.dir)
            fd = os.open(self.journal, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                size = os.fstat(fd).st_size
                data = line
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + line  # a torn last line: start ours on a line of its own
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):  # take back our cut line, if only ours
                        if size < os.fstat(fd).st_size <= size + len(data):
                            os.ftruncate(fd, size)
                            os.fsync(fd)
                    raise
            finally:
                os.close(fd)
            if size == 0:
                _fsync_dir(self.dir)
        except OSError as exc:
            raise write_error("journal", self.journal, exc) from exc

    def read_journal(self) -> list[dict[str, Any]]:
        self.journal_problems = []
        try:
            data = self.journal.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise ProviderError(
                f"cannot read the journal {self.journal}: {os_reason(exc)}",
                "fix the file system or its permissions, then run again",
            ) from exc
        entries, self.journal_problems = parse_journal(data, str(self.journal))
        return entries

    # ------------------------------------------------------------------ lock

    @property
    def lock_location(self) -> str:
        return str(self.lock)

    def acquire_lock(self, info: dict[str, Any]) -> None:
        if "pid" in info and "pidns" not in info and pid_namespace():
            info = {**info, "pidns": pid_namespace()}  # tells this host's pids from a container's
        data = json.dumps(info).encode()
        for _ in range(3):  # a lock released between our link() and our read: try again
            try:
                self._take(data)
                self._lock_data = data
                return
            except FileExistsError:
                holder = self.read_lock()
                if holder is not None:
                    raise lock_held_error(holder, str(self.lock), self.env_name) from None
            except OSError as exc:
                raise write_error("lock", self.lock, exc) from exc
        raise lock_held_error(self.read_lock(), str(self.lock), self.env_name)

    def _take(self, data: bytes) -> None:
        self._mkdir(self.dir)
        tmp = _write_temp(self.dir, "lock", data)
        try:
            try:
                os.link(tmp, self.lock)  # atomic, and fails when a lock exists
            except OSError as exc:
                if exc.errno not in NO_LINKS:
                    raise
                self._take_without_links(data)
        finally:
            tmp.unlink(missing_ok=True)
        try:
            _fsync_dir(self.dir)
        except OSError:
            self.lock.unlink(missing_ok=True)
            raise

    def _take_without_links(self, data: bytes) -> None:
        fd = os.open(self.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.lock.unlink(missing_ok=True)
            raise
        os.close(fd)

    def release_lock(self) -> None:
        """Remove the lock; when this instance took it, only if it is still ours (someone may
        have run `unlock` and taken it since)."""
        if self._lock_data is not None:
            try:
                if self.lock.read_bytes() != self._lock_data:
                    self._lock_data = None
                    return
            except FileNotFoundError:
                self._lock_data = None
                return
            except OSError:
                pass
        self._lock_data = None
        self.lock.unlink(missing_ok=True)

    def read_lock(self) -> dict[str, Any] | None:
        try:
            data = self.lock.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            return {
                "corrupt": True,
                "detail": f"cannot read: {os_reason(exc)}",
                "where": str(self.lock),
            }
        return parse_lock(data, str(self.lock))

    def break_lock(self) -> None:
        try:
            self.lock.unlink(missing_ok=True)
        except OSError as exc:
            raise StateWriteError(
                f"cannot remove the lock {self.lock}: {os_reason(exc)}",
                path=str(self.lock),
                reason=os_reason(exc),
            ) from exc
        self._lock_data = None

    def remove_stale_temps(self) -> list[str]:
        """Temporary files of dead writers in the state directory and its snapshots folder, only
        while the lock is ours: then no other run is between writing one and renaming it."""
        if self._lock_data is None:
            return []
        try:
            if self.lock.read_bytes() != self._lock_data:
                return []  # someone broke our lock with `unlock` and took it
        except OSError:
            return []
        return remove_stale([self.dir, self.snapshots])

    # ------------------------------------------------------------------ settings

    def save_settings(self, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, indent=1, sort_keys=True).encode()
        try:
            self._mkdir(self.dir)
            tmp = _write_temp(self.dir, "settings.json", data)
            try:
                os.replace(tmp, self.settings)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(self.dir)
        except OSError as exc:
            raise write_error("settings copy", self.settings, exc) from exc

    def load_settings(self) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.settings.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None
