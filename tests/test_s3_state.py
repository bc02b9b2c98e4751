"""The S3 state backend on moto's HTTP server: lock (IfNoneMatch), journal compare-and-swap
(IfMatch), snapshots written once and sealed, and `unlock` on S3."""

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
from cutover.errors import ChecksFailed, LockHeld
from cutover.records import RRset
from cutover.state import get_state
from cutover.state.base import new_snapshot
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
    with pytest.raises(Exception, match="already exists"):
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
