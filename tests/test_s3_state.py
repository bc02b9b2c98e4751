"""The S3 state backend on moto's HTTP server: lock (IfNoneMatch), journal compare-and-swap
(IfMatch), snapshots written once, sealed and read back, `unlock` on S3, lenient reads of a torn
journal, broken snapshots and a corrupt lock, the settings copy, and `state_at(s3://...)`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from cutover.config import load_environment
from cutover.errors import ChecksFailed, ConfigError, LockHeld, StateWriteError, UsageError
from cutover.records import RRset
from cutover.state import get_state, state_at
from cutover.state.base import iso, new_snapshot, utcnow
from tests.aws_helpers import BUCKET, PREFIX, SECRET, demo_zone_text, write_route53_env
from tests.conftest import REPO, run_cli

pytest_plugins = ["tests.aws_fixtures"]


@pytest.fixture
def s3env(project, aws, standins):
    aws.seed_zone("example.com", demo_zone_text(project, "example.com", ttl=30))
    name = write_route53_env(project, ["example.com"], standins)
    return name, load_environment(name, project)


def test_snapshot_and_journal_round_trip_and_a_tampered_snapshot_is_refused(aws, s3env):
    name, env = s3env
    state = get_state(env)
    mx = RRset("example.com", "MX", 10, ("1 smtp.google.com.",))
    doc = new_snapshot(name, "prepare", {"example.com.": ([mx], [("_x.example.com.", "TXT")])})
    sid = state.save_snapshot(doc)
    loaded = get_state(env).load_snapshot(sid)
    assert loaded == doc
    assert [s["id"] for s in get_state(env).list_snapshots()] == [sid]
    with pytest.raises(StateWriteError, match="already exists"):
        state.save_snapshot(doc)  # written once, never overwritten

    state.append_journal({"event": "applied", "stage": "prepare", "snapshot": sid})
    state.append_journal({"event": "rolled_back", "snapshots": [sid]})
    assert [e["event"] for e in get_state(env).read_journal()] == ["applied", "rolled_back"]

    key = f"{PREFIX}/{name}/snapshots/{sid}.json"
    body = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body["zones"]["example.com."]["rrsets"][0]["ttl"] = 99999
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode())
    with pytest.raises(ChecksFailed, match="checksum does not match"):
        get_state(env).load_snapshot(sid)
    assert get_state(env).list_snapshots()[0]["valid"] is False


def test_concurrent_journal_writers_lose_no_entry(s3env):
    """Eight writers (separate clients) append at once; the IfMatch compare-and-swap makes
    the losers re-read and retry, so every entry survives."""
    _, env = s3env
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        state = get_state(env)
        try:
            for i in range(6):
                state.append_journal({"event": "note", "writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    got = {(e["writer"], e["i"]) for e in get_state(env).read_journal()}
    assert got == {(n, i) for n in range(8) for i in range(6)}


def test_a_stale_etag_cannot_overwrite_the_journal(aws, s3env):
    """What the compare-and-swap relies on: S3 (moto) refuses a PUT whose IfMatch is stale."""
    name, env = s3env
    get_state(env).append_journal({"event": "one"})
    key = f"{PREFIX}/{name}/journal.jsonl"
    etag = aws.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    get_state(env).append_journal({"event": "two"})
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="PreconditionFailed"):
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"lost\n", IfMatch=etag)
    assert [e["event"] for e in get_state(env).read_journal()] == ["one", "two"]


def test_lock_held_by_a_second_process_is_exit_4_and_sigint_releases_it(project, aws, s3env):
    name, env = s3env
    assert run_cli(project, "prepare", "--env", name, "--yes", env=aws.env).returncode == 0
    # the cutover gate is ~31 s away: `--wait` holds the S3 lock while it counts down
    first = subprocess.Popen(
        [sys.executable, "-c", "from cutover.cli import main; main()"]
        + ["cutover", "--env", name, "--yes", "--wait"],
        cwd=project,
        env={**os.environ, **aws.env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while get_state(env).read_lock() is None:
            assert time.monotonic() < deadline and first.poll() is None, "lock never taken"
            time.sleep(0.1)
        holder = get_state(env).read_lock()
        assert holder["pid"] == first.pid and holder["host"] and holder["started"]
        r = run_cli(project, "prepare", "--env", name, "--yes", env=aws.env)
        assert r.returncode == 4, r.stderr
        assert f"pid {first.pid}" in r.stderr and f"invoke unlock --env {name}" in r.stderr
        assert f"s3://{BUCKET}/{PREFIX}/{name}/lock" in r.stderr
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=15)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode != 0
    assert get_state(env).read_lock() is None
    assert SECRET not in out + err + r.stdout + r.stderr


def test_unlock_removes_a_stale_s3_lock(project, aws, s3env):
    name, env = s3env
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/{name}/lock",
        Body=json.dumps({"owner": "ci@runner-7", "pid": 4242, "host": "runner-7"}).encode(),
    )
    with pytest.raises(LockHeld):
        get_state(env).acquire_lock({"owner": "me"})
    r = run_cli(project, "prepare", "--env", name, "--yes", env=aws.env)
    assert r.returncode == 4 and "ci@runner-7" in r.stderr
    r = run_cli(project, "unlock", "--env", name, "--yes", env=aws.env)
    assert r.returncode == 0 and "ci@runner-7" in r.stdout
    assert run_cli(project, "prepare", "--env", name, "--yes", env=aws.env).returncode == 0


def test_release_never_deletes_a_lock_someone_else_took(s3env):
    _, env = s3env
    mine = get_state(env)
    mine.acquire_lock({"owner": "me"})
    other = get_state(env)
    other.break_lock()  # `unlock` by someone who thought it stale
    other.acquire_lock({"owner": "them"})
    mine.release_lock()  # the ETag no longer matches: their lock stays
    assert get_state(env).read_lock() == {"owner": "them"}


def test_missing_bucket_is_exit_2(project, aws, standins):
    aws.seed_zone("example.com", demo_zone_text(project, "example.com"))
    name = write_route53_env(
        project, ["example.com"], standins, state={"backend": "s3", "bucket": "no-such-bucket"}
    )
    r = run_cli(project, "prepare", "--env", name, "--yes", env=aws.env)
    assert r.returncode == 2 and "bucket 'no-such-bucket' does not exist" in r.stderr


def test_a_torn_or_garbage_s3_journal_is_read_past_and_appended_after(aws, s3env):
    name, env = s3env
    key = f"{PREFIX}/{name}/journal.jsonl"
    aws.s3.put_object(
        Bucket=BUCKET, Key=key, Body=b'{"event": "began"}\n[1]\n\xff\n{"event": "appl'
    )
    state = get_state(env)
    assert state.read_journal() == [{"event": "began"}]
    where = f"s3://{BUCKET}/{key}"
    assert [p.split(": torn")[0] for p in state.journal_problems] == [
        f"{where}:{n}" for n in (2, 3, 4)
    ]
    state.append_journal({"event": "rolled_back"})
    body = aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body.endswith(b'"appl\n{"event": "rolled_back"}\n')
    assert get_state(env).read_journal() == [{"event": "began"}, {"event": "rolled_back"}]


def test_s3_snapshots_by_prefix_and_latest_and_broken_ones_refused_in_one_line(aws, s3env):
    name, env = s3env
    state = get_state(env)
    mx = RRset("example.com", "MX", 10, ("1 smtp.google.com.",))
    first = new_snapshot(name, "prepare", {"example.com.": ([mx], [])})
    time.sleep(0.01)
    second = new_snapshot(name, "cutover", {"example.com.": ([mx], [])})
    state.save_snapshot(first)
    state.save_snapshot(second)
    broken = "20991231T000000000000Z-cutover-0badc0"
    key = f"{PREFIX}/{name}/snapshots/{broken}.json"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"[]")

    assert state.load_snapshot("latest") == second  # the newest *valid* one
    assert state.load_snapshot(first["id"][:-2]) == first
    with pytest.raises(ChecksFailed) as exc:
        state.load_snapshot(broken)
    assert f"s3://{BUCKET}/{key}" in exc.value.line() and "not a snapshot" in exc.value.line()
    with pytest.raises(UsageError) as exc:
        state.load_snapshot("nosuch")
    assert f"s3://{BUCKET}/{PREFIX}/{name}/snapshots/" in exc.value.line()
    assert "invoke snapshots" in exc.value.line()
    listed = {s["id"]: s["valid"] for s in state.list_snapshots()}
    assert listed == {first["id"]: True, second["id"]: True, broken: False}


@pytest.mark.parametrize("content", [b"", b"\xff\xfe", b'{"owner": "ci'])
def test_a_corrupt_s3_lock_blocks_in_one_line_and_unlock_removes_it(project, aws, s3env, content):
    name, env = s3env
    key = f"{PREFIX}/{name}/lock"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=content)
    assert get_state(env).read_lock()["corrupt"] is True
    r = run_cli(project, "prepare", "--env", name, "--yes", env=aws.env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert r.stderr.strip() == (
        f"error: environment {name}: lock file s3://{BUCKET}/{key} is empty/unreadable "
        f"(left by a run that died while taking it); run `invoke unlock --env {name}` to remove it"
    )
    r = run_cli(project, "unlock", "--env", name, "--yes", env=aws.env)
    assert r.returncode == 0 and "empty/unreadable lock file" in r.stdout, r.stderr
    assert get_state(env).read_lock() is None


def test_an_s3_lock_of_a_dead_run_on_this_host_is_called_stale(aws, s3env):
    name, env = s3env
    proc = subprocess.Popen(["true"])
    proc.wait()
    holder = {"owner": "me@here", "pid": proc.pid, "host": os.uname().nodename}
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/{name}/lock",
        Body=json.dumps({**holder, "started": iso(utcnow())}).encode(),
    )
    with pytest.raises(LockHeld) as exc:
        get_state(env).acquire_lock({"owner": "me"})
    assert f"stale: pid {proc.pid} is not running on this host" in exc.value.line()
    # the same pid on another host: nothing is known about it, so it is not called stale
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/{name}/lock",
        Body=json.dumps({**holder, "host": "runner-9"}).encode(),
    )
    with pytest.raises(LockHeld) as exc:
        get_state(env).acquire_lock({"owner": "me"})
    assert "stale:" not in exc.value.line() and "runner-9" in exc.value.line()


def test_state_at_an_s3_location_reaches_the_same_state_and_keeps_settings(aws, s3env):
    name, env = s3env
    get_state(env).append_journal({"event": "began"})
    fresh = state_at(f"s3://{BUCKET}/{PREFIX}", name)  # no environment file needed
    assert fresh.read_journal() == [{"event": "began"}]
    assert fresh.load_settings() is None
    settings = {"provider": {"type": "route53"}, "state": {"backend": "s3", "bucket": BUCKET}}
    get_state(env).save_settings(settings)
    assert fresh.load_settings() == settings
    key = f"{PREFIX}/{name}/settings.json"
    assert json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == settings
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"[]")
    assert fresh.load_settings() is None
    with pytest.raises(ConfigError, match="--state s3://no-such-bucket/x: bucket"):
        state_at("s3://no-such-bucket/x", name).read_journal()
