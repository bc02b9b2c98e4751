"""Durable, checked state writes and lenient state reads (issue 13, item 4 and 7): snapshots,
the journal, the lock and the settings copy of the local backend, on real files, a real full
file system (a small tmpfs, or RLIMIT_FSIZE in a child process where mounting is not allowed)
and through the real `cutover` program."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cutover.config import load_environment
from cutover.errors import ChecksFailed, LockHeld, ProviderError, StateWriteError, UsageError
from cutover.records import RRset
from cutover.state import StateTarget, get_state, parse_state_spec, state_at
from cutover.state.base import iso, lock_liveness, new_snapshot, parse_journal, utcnow
from cutover.state.local import LocalState
from tests.conftest import REPO, run_cli

HOST = os.uname().nodename


def snapshot_doc(stage: str = "prepare", n: int = 1, env: str = "t") -> dict:
    """A sealed snapshot of `n` MX RRsets (about 80 bytes each)."""
    rrsets = [RRset(f"h{i}.example.com", "MX", 300, (f"{i} mx{i}.example.net.",)) for i in range(n)]
    return new_snapshot(env, stage, {"example.com.": (rrsets, [("_x.example.com.", "TXT")])})


def leftovers(directory: Path) -> list[str]:
    """Every file under `directory`, relative (temp files are dot files: they count)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def state(tmp_path: Path) -> LocalState:
    st = state_at(str(tmp_path), "t")
    assert isinstance(st, LocalState) and st.dir == tmp_path
    return st


# ---------------------------------------------------------------- snapshots


def test_snapshot_is_written_whole_private_and_never_overwritten(state, tmp_path):
    doc = snapshot_doc(n=200)
    sid = state.save_snapshot(doc)
    path = tmp_path / "snapshots" / f"{sid}.json"
    assert json.loads(path.read_bytes()) == doc
    assert path.stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == [f"snapshots/{sid}.json"]  # no temp file left
    before = path.read_bytes()
    with pytest.raises(StateWriteError, match="already exists; not overwriting it") as exc:
        state.save_snapshot(doc)
    assert exc.value.exit_code == 3 and str(path) in exc.value.line()
    assert path.read_bytes() == before and leftovers(tmp_path) == [f"snapshots/{sid}.json"]
    assert state.load_snapshot(sid) == doc


def test_an_unsealed_document_is_not_saved(state, tmp_path):
    doc = snapshot_doc()
    doc["stage"] = "edited after sealing"
    with pytest.raises(ValueError, match="not sealed"):
        state.save_snapshot(doc)
    assert leftovers(tmp_path) == []


def test_load_snapshot_by_id_unique_prefix_and_latest(state, tmp_path):
    first = snapshot_doc("prepare")
    time.sleep(0.01)
    second = snapshot_doc("cutover")
    state.save_snapshot(first)
    state.save_snapshot(second)
    assert state.load_snapshot(first["id"]) == first
    assert state.load_snapshot(second["id"][:-3]) == second  # a unique prefix
    assert state.load_snapshot("latest") == second
    # a newer but broken file is not "latest": the newest *valid* snapshot is
    (tmp_path / "snapshots" / "29991231T000000000000Z-cutover-abcdef.json").write_text("[]")
    assert state.load_snapshot("latest") == second
    time.sleep(0.01)
    state.save_snapshot(snapshot_doc("rollback"))  # nor is one a rollback took
    assert state.load_snapshot("latest") == second

    with pytest.raises(UsageError) as exc:
        state.load_snapshot("2")  # every id starts with the year
    assert exc.value.exit_code == 2 and "ambiguous" in exc.value.line()
    for unknown in ("nosuch", "../../etc/passwd", "", ".hidden"):
        with pytest.raises(UsageError) as exc:
            state.load_snapshot(unknown)
        line = exc.value.line()
        assert f"{tmp_path / 'snapshots'}/" in line and "invoke snapshots" in line
        assert "\n" not in line


def test_latest_with_no_valid_snapshot_is_a_usage_error(state, tmp_path):
    with pytest.raises(UsageError, match="no valid snapshot"):
        state.load_snapshot("latest")


BROKEN_SNAPSHOTS = {
    "empty list": b"[]",
    "a JSON string": b'"snapshot"',
    "not JSON": b"this is not json",
    "not UTF-8": b'{"id": "\xff\xfe"}',
    "empty": b"",
    "cut at 512 bytes": None,  # the head of a real snapshot
    "edited by hand": None,  # a real snapshot with one TTL changed
}


@pytest.mark.parametrize("case", list(BROKEN_SNAPSHOTS))
def test_a_broken_snapshot_file_is_one_line_checks_failed_and_listed_invalid(state, case):
    good = snapshot_doc(n=20)
    state.save_snapshot(good)
    sid = "20240101T000000000000Z-prepare-0badc0"
    path = state.snapshots / f"{sid}.json"
    content = BROKEN_SNAPSHOTS[case]
    if case == "cut at 512 bytes":
        content = json.dumps(good, indent=1).encode()[:512]
    elif case == "edited by hand":
        edited = json.loads(json.dumps(good))
        edited["zones"]["example.com."]["rrsets"][0]["ttl"] = 1
        content = json.dumps(edited).encode()
    path.write_bytes(content)

    with pytest.raises(ChecksFailed) as exc:
        state.load_snapshot(sid)
    line = exc.value.line()
    assert exc.value.exit_code == 1 and str(path) in line and "\n" not in line
    listed = {s["id"]: s for s in state.list_snapshots()}
    assert listed[sid]["valid"] is False and str(path) in listed[sid]["problem"]
    assert listed[good["id"]]["valid"] is True


# ---------------------------------------------------------------- journal


def test_a_torn_last_journal_line_is_skipped_and_the_next_entry_starts_its_own_line(state):
    state.append_journal({"event": "began", "n": 1})
    state.append_journal({"event": "applied", "n": 2})
    with open(state.journal, "ab") as f:  # a run that died (or a disk that filled) mid-line
        f.write(b'{"event": "completed", "n"')
    assert state.read_journal() == [{"event": "began", "n": 1}, {"event": "applied", "n": 2}]
    (problem,) = state.journal_problems
    assert problem.startswith(f"{state.journal}:3: torn or unreadable line skipped (")

    state.append_journal({"event": "rolled_back", "n": 3})
    assert state.journal.read_bytes().endswith(b'"n"\n{"event": "rolled_back", "n": 3}\n')
    assert [e["n"] for e in state.read_journal()] == [1, 2, 3]
    assert len(state.journal_problems) == 1 and ":3:" in state.journal_problems[0]


def test_every_kind_of_garbage_journal_line_is_skipped_and_described(state):
    state.append_journal({"event": "began", "n": 1})
    with open(state.journal, "ab") as f:
        f.write(b'[1, 2]\n\n   \nnot json at all\n\xff\xfe\xfd\n"a string"\nnull\n')
    state.append_journal({"event": "completed", "n": 2})
    assert [e["n"] for e in state.read_journal()] == [1, 2]
    problems = state.journal_problems
    assert [p.split(": torn")[0] for p in problems] == [
        f"{state.journal}:{n}" for n in (2, 5, 6, 7, 8)
    ]
    assert all("torn or unreadable line skipped" in p and "\n" not in p for p in problems)
    assert "not UTF-8" in problems[2] and "not an object" in problems[0]
    # the problems describe the last read only
    state.journal.write_bytes(b'{"event": "began", "n": 1}\n')
    assert state.read_journal() and state.journal_problems == []


def test_parse_journal_is_shared_and_never_raises():
    entries, problems = parse_journal(b'{"a": 1}\n{"b": \n', "s3://b/k")
    assert entries == [{"a": 1}] and problems[0].startswith("s3://b/k:2: torn or unreadable")
    assert parse_journal("", "x") == ([], [])


def test_an_absent_journal_reads_empty(state):
    assert state.read_journal() == [] and state.journal_problems == []


def test_journal_entries_are_whole_lines_and_the_file_is_private(state):
    for i in range(50):
        state.append_journal({"event": "note", "i": i, "text": "x" * i})
    raw = state.journal.read_bytes()
    assert raw.endswith(b"\n") and len(raw.splitlines()) == 50
    assert state.journal.stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- lock


def holder(pid: int, host: str = HOST, **extra) -> dict:
    return {"owner": "ghost@box", "pid": pid, "host": host, "started": iso(utcnow()), **extra}


def test_the_lock_is_written_whole_and_a_second_taker_is_told_who_holds_it(state, tmp_path):
    info = holder(os.getpid(), task="prepare")
    state.acquire_lock(info)
    on_disk = json.loads(state.lock.read_bytes())
    assert {k: on_disk[k] for k in info} == info
    assert leftovers(tmp_path) == ["lock"]  # the temp file is gone
    other = state_at(str(tmp_path), "t")
    with pytest.raises(LockHeld) as exc:
        other.acquire_lock(holder(12345))
    line = exc.value.line()
    assert exc.value.exit_code == 4 and "ghost@box" in line and f"pid {os.getpid()}" in line
    assert str(state.lock) in line and "invoke unlock --env t" in line and "stale" not in line
    assert leftovers(tmp_path) == ["lock"] and json.loads(state.lock.read_bytes()) == on_disk
    state.release_lock()
    assert not state.lock.exists()
    other.acquire_lock(holder(12345))
    assert json.loads(state.lock.read_bytes())["pid"] == 12345


def test_release_never_removes_a_lock_someone_else_took_since(state, tmp_path):
    state.acquire_lock(holder(os.getpid()))
    other = state_at(str(tmp_path), "t")
    other.break_lock()  # `unlock` by someone who thought it stale
    other.acquire_lock(holder(4242, owner="them"))
    state.release_lock()
    assert state.read_lock()["owner"] == "them"


@pytest.mark.parametrize(
    "content,detail",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"owner": "x", "pid"', "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "not an object"),
    ],
)
def test_a_corrupt_lock_file_is_reported_not_ignored(state, tmp_path, content, detail):
    tmp_path.mkdir(exist_ok=True)
    state.lock.write_bytes(content)
    got = state.read_lock()
    assert got is not None and got["corrupt"] is True and detail in got["detail"]
    with pytest.raises(LockHeld) as exc:
        state.acquire_lock(holder(os.getpid()))
    assert exc.value.line() == (
        f"environment t: lock file {state.lock} is empty/unreadable (left by a run that died "
        "while taking it); run `invoke unlock --env t` to remove it"
    )
    assert state.lock.read_bytes() == content and leftovers(tmp_path) == ["lock"]


def test_a_lock_whose_holder_died_on_this_host_is_called_stale(state):
    pid = dead_pid()
    state.dir.mkdir(parents=True, exist_ok=True)
    state.lock.write_text(json.dumps(holder(pid)))
    with pytest.raises(LockHeld) as exc:
        state.acquire_lock(holder(os.getpid()))
    line = exc.value.line()
    assert f"stale: pid {pid} is not running on this host" in line
    assert "invoke unlock --env t" in line


def test_lock_liveness():
    sleeper = subprocess.Popen(["sleep", "60"])
    zombie = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert lock_liveness(holder(sleeper.pid)) == "alive"
        assert lock_liveness(holder(os.getpid())) == "alive"
        assert lock_liveness(holder(dead_pid())) == "dead"
        assert lock_liveness(holder(zombie.pid)) == "dead"  # killed, not yet reaped
        # the pid runs, but as a process that started after the lock was taken: reused
        old = {**holder(sleeper.pid), "started": "2001-01-01T00:00:00Z"}
        assert lock_liveness(old) == "dead"
        assert lock_liveness(holder(sleeper.pid, host="another-host")) == "unknown"
        assert lock_liveness(holder(dead_pid(), pidns="pid:[1]")) == "unknown"
        for odd in ({"owner": "x"}, holder("12"), holder(True), holder(-1), {"corrupt": True}):
            assert lock_liveness(odd) == "unknown"
        assert lock_liveness(None) == "unknown"
    finally:
        sleeper.kill()
        sleeper.wait()
        zombie.wait()


# ---------------------------------------------------------------- settings copy, state_at


def test_settings_copy_round_trip_replace_and_unreadable(state, tmp_path):
    assert state.load_settings() is None
    state.save_settings({"provider": {"type": "zonefile"}, "state": {"backend": "local"}})
    state.save_settings({"provider": {"type": "route53"}})
    assert state.load_settings() == {"provider": {"type": "route53"}}
    assert (tmp_path / "settings.json").stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == ["settings.json"]
    for junk in (b"", b"[]", b"{not json", b"\xff"):
        (tmp_path / "settings.json").write_bytes(junk)
        assert state.load_settings() is None


def test_state_at_a_directory_and_an_s3_location(tmp_path):
    local = state_at(str(tmp_path), "prod")
    assert isinstance(local, LocalState) and local.journal == tmp_path / "journal.jsonl"
    assert local.env.name == "prod" and local.env_name == "prod"

    s3 = state_at("s3://team-state/teams/mail/", "prod")
    assert (s3.bucket, s3.base) == ("team-state", "teams/mail/prod/")
    assert state_at("s3://team-state", "prod").base == "cutover/prod/"  # the default prefix

    for spec, name in [
        (str(tmp_path / "missing"), "prod"),
        ("s3://", "prod"),
        ("s3://b/p?region=x", "prod"),
        (str(tmp_path), "../prod"),
        (str(tmp_path), "a/b"),
        (str(tmp_path), ".."),
    ]:
        with pytest.raises(UsageError) as exc:
            state_at(spec, name)
        assert exc.value.exit_code == 2 and "\n" not in exc.value.line()

    (tmp_path / "prod").mkdir()
    (tmp_path / "prod" / "journal.jsonl").write_text("")
    with pytest.raises(UsageError) as exc:
        state_at(str(tmp_path), "prod")
    assert f"did you mean --state {tmp_path / 'prod'}?" in exc.value.line()


def test_get_state_of_an_environment_and_of_a_target_agree(project):
    env = load_environment("demo", project)
    by_env = get_state(env)
    target = StateTarget.of(env)
    assert target.env_name == "demo" and target.backend == "local"
    assert get_state(target).dir == by_env.dir == project / ".cutover" / "demo"
    by_env.append_journal({"event": "note"})
    assert state_at(str(by_env.dir), "demo").read_journal() == [{"event": "note"}]
    assert parse_state_spec(str(by_env.dir), "demo").directory == by_env.dir


# ---------------------------------------------------------------- a full file system

SCENARIO_SEED = [{"event": "began", "n": n, "pad": "p" * 100} for n in range(3)]


def seed(directory: Path) -> bytes:
    st = state_at(str(directory), "t")
    for entry in SCENARIO_SEED:
        st.append_journal(entry)
    st.save_settings({"provider": {"type": "zonefile"}})
    return st.journal.read_bytes()


def big_writes(directory: str) -> dict:
    """Each state write, too big for the space left: what each raised and what was left."""
    st = state_at(directory, "t")
    out: dict = {}
    attempts = {
        "snapshot": lambda: st.save_snapshot(snapshot_doc(n=300)),  # ~40 KB
        "journal": lambda: st.append_journal({"event": "note", "pad": "j" * 20000}),
        "lock": lambda: st.acquire_lock({"pid": os.getpid(), "pad": "l" * 20000}),
        "settings": lambda: st.save_settings({"provider": {"pad": "s" * 20000}}),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            out[name] = None
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out[name] = {
                "class": type(exc).__name__,
                "line": exc.line() if hasattr(exc, "line") else str(exc),
                "exit_code": getattr(exc, "exit_code", None),
                "reason": getattr(exc, "reason", ""),
            }
    out["files"] = leftovers(Path(directory))
    out["journal_now"] = st.read_journal()
    out["problems"] = st.journal_problems
    out["lock_now"] = st.read_lock()
    out["settings_now"] = st.load_settings()
    return out


def check_failed_writes(out: dict, directory: Path, seeded: bytes, reason: str) -> None:
    for name, what in [
        ("snapshot", "snapshots"),
        ("journal", "journal.jsonl"),
        ("lock", "lock"),
        ("settings", "settings.json"),
    ]:
        got = out[name]
        assert got is not None, f"{name}: the write did not fail"
        assert got["class"] == "StateWriteError" and got["exit_code"] == 3, got
        assert str(directory / what) in got["line"] and reason in got["line"], got
        assert "\n" not in got["line"]
    # nothing partial: no snapshot, no temp file, no lock; journal and settings as they were
    assert out["files"] == ["journal.jsonl", "settings.json"]
    assert (directory / "journal.jsonl").read_bytes() == seeded
    assert out["journal_now"] == SCENARIO_SEED and out["problems"] == []
    assert out["lock_now"] is None and out["settings_now"] == {"provider": {"type": "zonefile"}}


def check_writes_work_again(directory: Path) -> None:
    st = state_at(str(directory), "t")
    doc = snapshot_doc(n=300)
    assert st.load_snapshot(st.save_snapshot(doc)) == doc
    st.append_journal({"event": "note", "pad": "j" * 20000})
    assert len(st.read_journal()) == len(SCENARIO_SEED) + 1 and st.journal_problems == []
    st.acquire_lock({"pid": os.getpid(), "pad": "l" * 100})
    assert st.read_lock()["pad"] == "l" * 100
    st.save_settings({"provider": {"pad": "s" * 20000}})
    assert st.load_settings() == {"provider": {"pad": "s" * 20000}}


def mount_tmpfs(directory: Path, size: str) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    return r.returncode == 0


def run_limited(code: str, limit: int) -> subprocess.CompletedProcess:
    """Python `code` in a child whose files may not grow past `limit` bytes (RLIMIT_FSIZE: a
    write past it fails with EFBIG, like a full disk, after a short write up to the limit)."""

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_files,
        check=False,
    )


def full_disk_by_rlimit(directory: Path) -> None:
    seeded = seed(directory)
    code = (
        "import json, sys\n"
        "from tests.test_state_durability import big_writes\n"
        f"print(json.dumps(big_writes({str(directory)!r})))\n"
    )
    r = run_limited(code, limit=4096)
    assert r.returncode == 0, r.stderr
    check_failed_writes(json.loads(r.stdout), directory, seeded, "File too large (EFBIG)")
    check_writes_work_again(directory)  # here, without the limit


def fill(directory: Path) -> list[Path]:
    """Fill a file system with 4 KiB files until it is full; the files written whole."""
    directory.mkdir()
    files = []
    for n in range(100000):
        path = directory / f"filler-{n}"
        try:
            with open(path, "wb") as f:
                f.write(b"f" * 4096)
        except OSError:
            path.unlink(missing_ok=True)
            assert len(files) > 4 and os.statvfs(directory).f_bavail == 0
            return files
        files.append(path)
    raise AssertionError("never filled")


def full_disk_by_tmpfs(directory: Path) -> None:
    seeded = seed(directory)
    fillers = fill(directory / "filler")
    for f in fillers[:2]:  # 8 KiB free: every big write starts, then hits ENOSPC midway
        f.unlink()
    out = big_writes(str(directory))
    out["files"] = [f for f in out["files"] if not f.startswith("filler/")]
    check_failed_writes(out, directory, seeded, "No space left on device (ENOSPC)")
    for f in fillers[2:]:
        f.unlink()
    check_writes_work_again(directory)


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_a_full_disk_fails_every_state_write_in_one_line_and_leaves_nothing_partial(
    tmp_path, request, how
):
    """A 256 KiB tmpfs where this test may mount one (root); RLIMIT_FSIZE in a child process
    otherwise, and always as the second case. Never skipped."""
    directory = tmp_path / "state"
    if how == "tmpfs" and mount_tmpfs(directory, "256k"):
        request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(directory)], check=False))
        full_disk_by_tmpfs(directory)
    else:
        directory.mkdir(exist_ok=True)
        full_disk_by_rlimit(directory)


def test_a_read_only_state_directory_is_a_state_write_error(tmp_path, request):
    directory = tmp_path / "ro"
    if mount_tmpfs(directory, "1m"):
        seed(directory)
        request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(directory)], check=False))
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        reason = re.escape("Read-only file system (EROFS)")
    else:  # no mount allowed: a state directory that cannot exist (fails as root too)
        (tmp_path / "a-file").write_text("")
        directory = tmp_path / "a-file" / "state"
        reason = re.escape("Not a directory (ENOTDIR)")
    st = (
        state_at(str(directory), "t")
        if directory.is_dir()
        else LocalState(StateTarget("t", "local", {}, directory, "test"))
    )
    journal_before = st.read_journal()
    with pytest.raises(StateWriteError, match=reason):
        st.append_journal({"event": "x"})
    with pytest.raises(StateWriteError, match=reason):
        st.save_snapshot(snapshot_doc())
    with pytest.raises(StateWriteError, match=reason):
        st.acquire_lock({"pid": 1})
    with pytest.raises(StateWriteError, match=reason):
        st.save_settings({"provider": {}})
    assert st.read_journal() == journal_before and st.read_lock() is None


def test_state_write_error_is_a_provider_error_exit_3():
    exc = StateWriteError("cannot write the journal /x: boom", path="/x", reason="boom")
    assert isinstance(exc, ProviderError) and exc.exit_code == 3 and exc.path == "/x"


# ---------------------------------------------------------------- through the `cutover` program


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_prepare_on_a_full_disk_exits_3_and_leaves_no_snapshot(project, cli):
    """RLIMIT_FSIZE on the program itself: the snapshot (about 3 KB) cannot be written."""
    zones = {p.name: p.read_bytes() for p in (project / "demo" / "zones").glob("*.zone")}

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    r = run_cli(project, "prepare", "--env", "demo", "--yes", preexec_fn=limit_files)
    assert r.returncode == 3, r.stdout + r.stderr
    line = one_error_line(r.stderr)
    state_dir = project / ".cutover" / "demo"
    assert f"{state_dir / 'snapshots'}" in line and "File too large (EFBIG)" in line
    assert [p.name for p in (state_dir / "snapshots").iterdir()] == []
    assert not (state_dir / "lock").exists()
    assert zones == {p.name: p.read_bytes() for p in (project / "demo" / "zones").glob("*.zone")}
    r = cli("prepare", "--env", "demo", "--yes")  # space is back
    assert r.returncode == 0, r.stderr
    assert len(list((state_dir / "snapshots").glob("*.json"))) == 1


def test_status_and_snapshots_read_past_a_torn_journal_and_a_broken_snapshot(project, cli):
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    state_dir = project / ".cutover" / "demo"
    with open(state_dir / "journal.jsonl", "ab") as f:
        f.write(b"garbage line\n\xff\xfe\n[]\n")
        f.write(b'{"event": "applied", "stage": "cutover", "snap')  # torn by a crash
    broken = "20991231T000000000000Z-cutover-0badc0"
    (state_dir / "snapshots" / f"{broken}.json").write_text("[]")

    r = cli("status", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["current_stage"] == "prepare" and doc["latest_snapshot"]["stage"] == "prepare"
    r = cli("status", "--env", "demo")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr

    r = cli("snapshots", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)["snapshots"]}
    assert rows[broken]["valid"] is False
    assert [row["valid"] for i, row in rows.items() if i != broken] == [True]
    r = cli("snapshots", "--env", "demo")
    assert r.returncode == 0 and "BROKEN" in r.stdout, r.stderr


def test_rollback_to_an_unknown_or_broken_snapshot_is_one_line(project, cli):
    state_dir = project / ".cutover" / "demo"
    (state_dir / "snapshots").mkdir(parents=True)
    broken = "20991231T000000000000Z-cutover-0badc0"
    (state_dir / "snapshots" / f"{broken}.json").write_text("[]")
    r = cli("rollback", "--env", "demo", "--yes", "--snapshot", "nosuch")
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_error_line(r.stderr)
    assert "no snapshot 'nosuch'" in line and "invoke snapshots" in line
    r = cli("rollback", "--env", "demo", "--yes", "--snapshot", broken)
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(state_dir / "snapshots" / f"{broken}.json") in one_error_line(r.stderr)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\xfd", b'{"owner": "ci@x", "pi'])
def test_an_empty_or_unreadable_lock_blocks_in_one_line_and_unlock_removes_it(
    project, cli, content
):
    lock = project / ".cutover" / "demo" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(content)
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 4, r.stdout + r.stderr
    assert one_error_line(r.stderr) == (
        f"error: environment demo: lock file {lock} is empty/unreadable (left by a run that "
        "died while taking it); run `invoke unlock --env demo` to remove it"
    )
    r = cli("status", "--env", "demo", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["lock"]["corrupt"] is True, r.stderr
    r = cli("unlock", "--env", "demo")  # no terminal, no --yes: refused, the lock stays
    assert r.returncode == 2 and lock.read_bytes() == content
    r = cli("unlock", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert "empty/unreadable lock file" in r.stdout and "not locked" not in r.stdout
    assert not lock.exists()
    r = cli("unlock", "--env", "demo", "--yes")
    assert r.returncode == 0 and "demo: not locked" in r.stdout
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0


def test_a_lock_left_by_a_dead_run_on_this_host_is_called_stale(project, cli):
    pid = dead_pid()
    lock = project / ".cutover" / "demo" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps(holder(pid, task="cutover")))
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 4
    line = one_error_line(r.stderr)
    assert f"stale: pid {pid} is not running on this host" in line
    assert "ghost@box" in line and "invoke unlock --env demo" in line
    r = cli("unlock", "--env", "demo", "--yes")
    assert r.returncode == 0 and "stale lock held by ghost@box" in r.stdout, r.stderr
    assert not lock.exists()


class RecordingUI:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.questions: list[str] = []
        self.infos: list[str] = []

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer

    def info(self, message: str) -> None:
        self.infos.append(message)


def test_unlock_refuses_a_live_holder_on_this_host_unless_forced(project, cli):
    from cutover import views

    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        lock = project / ".cutover" / "demo" / "lock"
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps(holder(sleeper.pid, task="cutover")))
        r = cli("prepare", "--env", "demo", "--yes")
        assert r.returncode == 4 and "stale" not in r.stderr
        assert f"pid {sleeper.pid}" in one_error_line(r.stderr)
        r = cli("unlock", "--env", "demo", "--yes")
        assert r.returncode == 4, r.stdout + r.stderr
        assert one_error_line(r.stderr).endswith(
            f"held by a live run (pid {sleeper.pid} on {HOST}); stop it first, or --force"
        )
        assert lock.exists()

        env = load_environment("demo", project)
        with pytest.raises(LockHeld, match="held by a live run"):
            views.unlock(env, RecordingUI(), yes=True)
        ui = RecordingUI(answer=False)
        with pytest.raises(UsageError, match="not confirmed"):
            views.unlock(env, ui, force=True)
        assert "STILL RUNNING" in ui.questions[0] and lock.exists()
        ui = RecordingUI()
        views.unlock(env, ui, force=True)
        assert not lock.exists() and "removed (--force)" in ui.infos[0]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_unlock_keeps_a_lock_that_changed_while_it_asked(project):
    from cutover import views

    env = load_environment("demo", project)
    state = get_state(env)
    state.acquire_lock(holder(dead_pid()))

    class Racing(RecordingUI):
        def confirm(self, question: str) -> bool:  # meanwhile, another run takes over
            state.break_lock()
            get_state(env).acquire_lock(holder(os.getpid(), owner="newcomer"))
            return True

    with pytest.raises(LockHeld, match="changed while unlock was asking"):
        views.unlock(env, Racing())
    assert get_state(env).read_lock()["owner"] == "newcomer"
