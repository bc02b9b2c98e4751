"""Gates, the journal, locks and safe re-runs, through the real `cutover` program."""

import json
import re
import resource
import signal
import time

import yaml

from tests.conftest import run_cli, spawn_cli
from tests.lifecycle_helpers import fast_demo, journal, runs, zone_state


def test_cutover_gate_refuses_early_then_opens_after_t_old(project, cli):
    fast_demo(project, old_ttl=3)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    r = cli("cutover", "--env", "demo", "--yes")
    assert r.returncode == 1
    assert re.search(
        r"gate opens at 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ, in \d+s; --wait to wait, "
        r"--force to override",
        r.stderr,
    ), r.stderr
    assert zone_state(project, "example.com")[("example.com.", "MX")][1] == ["1 smtp.google.com."]
    status = json.loads(cli("status", "--env", "demo", "--json").stdout)
    assert status["current_stage"] == "prepare" and status["cutover_gate"]["open"] is False
    time.sleep(status["cutover_gate"]["seconds_left"] + 0.5)
    r = cli("cutover", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert [(r["stage"], r["end"]["event"]) for r in runs(project)] == [
        ("prepare", "completed"),
        ("cutover", "completed"),
    ]


def test_force_is_warned_and_journaled(project, cli):
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    r = cli("cutover", "--env", "demo", "--yes", "--force")
    assert r.returncode == 0 and "--force" in r.stderr + r.stdout
    entry = runs(project)[-1]
    assert entry["stage"] == "cutover" and entry["forced"] is True
    assert "gate" in entry["forced_reason"]
    status = json.loads(cli("status", "--env", "demo", "--json").stdout)
    assert status["stack"][-1]["forced"] is True


def test_stages_out_of_order_are_explained_not_attempted(project, cli):
    before = zone_state(project, "example.com")
    r = cli("cutover", "--env", "demo", "--yes")
    assert r.returncode == 1 and "prepare has not been applied" in r.stderr
    r = cli("finalize", "--env", "demo", "--yes")
    assert r.returncode == 1 and "run `invoke cutover --env demo` first" in r.stderr
    assert zone_state(project, "example.com") == before
    assert journal(project) == []


def test_rerunning_an_applied_stage_changes_nothing(project, cli):
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    state = zone_state(project, "example.com")
    entries = journal(project)
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0 and "nothing to change" in r.stdout
    assert zone_state(project, "example.com") == state and journal(project) == entries


def _three_zone_project(project):
    """Three domains; b.test's zone file is large so that a file-size limit fails only its write."""
    src = (project / "demo" / "zones" / "example.com.zone").read_text()
    for name in ("a.test", "b.test", "c.test"):
        text = src.replace("example.com", name)
        if name == "b.test":
            text += "".join(f"host{i} 300 IN A 192.0.2.{i % 250 + 1}\n" for i in range(900))
        (project / "demo" / "zones" / f"{name}.zone").write_text(text)
    standin = project / "demo" / "standins" / "onmicrosoft.com.zone"
    keys = [line for line in standin.read_text().splitlines() if "-example-com." in line]
    extra = [
        k.replace("example-com", n.replace(".", "-"))
        for n in ("a.test", "b.test", "c.test")
        for k in keys
    ]
    standin.write_text(standin.read_text() + "\n".join(extra) + "\n")  # their DKIM keys, for lint
    env = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    base = env["domains"]["example.com"]
    env["domains"] = {
        n: yaml.safe_load(yaml.safe_dump(base).replace("example-com", n.replace(".", "-")))
        for n in ("a.test", "b.test", "c.test")
    }
    env["validation"]["nameservers"] = "auto"
    (project / "environments" / "demo.yaml").write_text(yaml.safe_dump(env))


def test_failure_on_second_zone_then_rerun_then_rollback_restores_all(project):
    _three_zone_project(project)
    original = {z: zone_state(project, z) for z in ("a.test", "b.test", "c.test")}
    size_b = (project / "demo" / "zones" / "b.test.zone").stat().st_size
    limit = size_b - 1000  # a.test and the snapshot fit; rewriting b.test does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run_cli(project, "prepare", "--env", "demo", "--yes", preexec_fn=small_files)
    assert r.returncode == 3, r.stderr
    assert "b.test" in r.stderr
    assert zone_state(project, "a.test") != original["a.test"]  # zone 1 changed
    assert zone_state(project, "b.test") == original["b.test"]
    assert zone_state(project, "c.test") == original["c.test"]  # zone 3 untouched
    failed = runs(project)[-1]
    assert failed["end"]["event"] == "failed" and failed["applied"] == ["a.test."]
    assert failed["end"]["zone"] == "b.test." and failed["snapshot"]
    assert "DNS was changed in a.test" in r.stderr and "invoke rollback --env demo" in r.stderr

    status = json.loads(run_cli(project, "status", "--env", "demo", "--json").stdout)
    assert status["incomplete_stage"] == "prepare" and status["next_stage"] == "prepare"

    r = run_cli(project, "prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    for z in ("b.test", "c.test"):
        assert zone_state(project, z)[(z + ".", "MX")][0] == 5
    r = run_cli(project, "rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert {z: zone_state(project, z) for z in original} == original


def _spawn(project, *args):
    return spawn_cli(project, *args)


def _wait_for_lock(project, timeout=10):
    lock = project / ".cutover" / "demo" / "lock"
    deadline = time.monotonic() + timeout
    while not lock.exists():
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)
    return lock


def test_second_concurrent_run_gets_exit_4_and_sigint_releases_the_lock(project, cli):
    fast_demo(project, old_ttl=30)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    first = _spawn(project, "cutover", "--env", "demo", "--yes", "--wait")  # waits under the lock
    try:
        lock = _wait_for_lock(project)
        holder = json.loads(lock.read_text())
        assert holder["pid"] == first.pid
        r = cli("prepare", "--env", "demo", "--yes")
        assert r.returncode == 4, r.stderr
        assert f"pid {first.pid}" in r.stderr and "invoke unlock --env demo" in r.stderr
        first.send_signal(signal.SIGINT)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode != 0 and not lock.exists()


def test_sigint_while_verifying_an_apply_keeps_the_snapshot_and_frees_the_lock(project, cli):
    dead = socket_that_never_answers()
    env = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    env["validation"] = {"nameservers": [f"127.0.0.1:{dead.getsockname()[1]}"], "timeout": 60}
    (project / "environments" / "demo.yaml").write_text(yaml.safe_dump(env))
    original = zone_state(project, "example.org")
    proc = _spawn(project, "prepare", "--env", "demo", "--yes")
    try:
        deadline = time.monotonic() + 15
        while (
            not list(project.glob(".cutover/demo/snapshots/*.json"))
            or zone_state(project, "example.org")[("example.org.", "MX")][0] != 5
        ):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        dead.close()
    assert proc.returncode != 0
    assert not (project / ".cutover" / "demo" / "lock").exists()
    assert len(list(project.glob(".cutover/demo/snapshots/*.json"))) == 1
    assert runs(project)[-1]["end"]["event"] == "interrupted"
    assert proc.returncode == 130, proc.stderr.read()
    env["validation"] = {"nameservers": "auto"}
    (project / "environments" / "demo.yaml").write_text(yaml.safe_dump(env))
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert zone_state(project, "example.org") == original


def socket_that_never_answers():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def test_unlock_removes_a_stale_lock_after_confirming(project, cli):
    lock_dir = project / ".cutover" / "demo"
    lock_dir.mkdir(parents=True)
    (lock_dir / "lock").write_text(
        json.dumps({"owner": "ghost@gone", "pid": 999999, "started": "2026-01-01T00:00:00Z"})
    )
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 4 and "ghost@gone" in r.stderr
    r = cli("unlock", "--env", "demo")
    assert r.returncode == 2 and (lock_dir / "lock").exists()  # no terminal, no --yes
    r = cli("unlock", "--env", "demo", "--yes")
    assert r.returncode == 0 and "ghost@gone" in r.stdout and not (lock_dir / "lock").exists()
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0


def test_status_reports_stage_served_records_and_snapshot(project, cli):
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    doc = json.loads(cli("status", "--env", "demo", "--json").stdout)
    assert doc["current_stage"] == "prepare" and doc["next_stage"] == "cutover"
    assert doc["domains"]["example.com"]["mx"] == ["1 smtp.google.com."]
    assert doc["domains"]["example.org"]["spf"] == [
        "v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all"
    ]
    assert doc["latest_snapshot"]["stage"] == "prepare"
    assert doc["latest_snapshot"]["id"] == runs(project)[-1]["snapshot"]
    assert doc["cutover_gate"]["opens_at"].endswith("Z")
    text = cli("status", "--env", "demo")
    assert "current stage prepare" in text.stdout and "example.org" in text.stdout


def test_a_stage_that_changed_nothing_is_still_a_step_of_the_undo_stack(project, cli):
    import shutil

    fast_demo(project)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    shutil.rmtree(project / ".cutover")  # the zones are prepared, but by someone else
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0 and "nothing to change" in r.stdout
    last = runs(project)[-1]
    assert last["stage"] == "prepare" and last["snapshot"] is None and last["changes"] == {}
    assert cli("cutover", "--env", "demo", "--yes", "--wait").returncode == 0
    assert cli("rollback", "--env", "demo", "--yes").returncode == 0
    assert zone_state(project, "example.com")[("example.com.", "MX")][1] == ["1 smtp.google.com."]
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0 and "prepare had changed nothing; marked undone" in r.stdout
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0 and "nothing to roll back" in r.stdout  # like "nothing to change"
