"""Guards around writing runs and a rollback that works when everything else is broken, through
the real `cutover` program; zones are read back with dnspython (tests/lifecycle_helpers.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, spawn_cli
from tests.lifecycle_helpers import fast_demo, runs, zone_state

ZONES = ("example.com", "example.org")


def _all(project: Path) -> dict:
    return {z: zone_state(project, z) for z in ZONES}


def _edit_env(project: Path, change) -> None:
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_invoke_dry_refuses_every_writing_task_and_changes_nothing(project):
    before = _all(project)
    for task in ("prepare", "cutover", "finalize", "rollback", "unlock"):
        r = subprocess.run(
            [sys.executable, "-m", "invoke", "--dry", task, "--env", "demo", "--yes"],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert r.returncode == 2, (task, r.stdout, r.stderr)
        assert "--dry cannot preview" in r.stderr and "Traceback" not in r.stderr
    assert _all(project) == before and not (project / ".cutover").exists()


@pytest.mark.parametrize("name", ["../environments/demo", "demo/../demo", "..", "/tmp/demo"])
def test_environment_names_are_plain(cli, name):
    r = cli("prepare", "--env", name, "--yes")
    assert r.returncode == 2 and "is not a plain name" in r.stderr, r.stderr


def test_prepare_never_raises_a_ttl_and_lint_says_so(project, cli):
    _edit_env(project, lambda d: d.update(ttl={"cutover": 3600, "final": 60}))
    r = cli("plan", "--env", "demo", "--json")
    codes = {f["code"] for f in json.loads(r.stdout)["findings"]}
    assert "TTL_CUTOVER_ABOVE_LIVE" in codes
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    for zone, state in _all(project).items():
        assert state[(f"{zone}.", "MX")][0] == 10  # the live 10 s, not 3600
        assert state[(f"{zone}.", "TXT")][0] == 10
        # a record that did not exist has no cached answer to shorten: it gets ttl.cutover
        assert state[(f"selector1._domainkey.{zone}.", "CNAME")][0] == 3600
    status = json.loads(cli("status", "--env", "demo", "--json").stdout)
    assert status["cutover_gate"]["seconds_left"] <= 12  # T_old is the 10 s resolvers hold


def test_an_earlier_stage_after_a_later_one_is_refused_with_the_reason(project, cli):
    fast_demo(project)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    assert cli("cutover", "--env", "demo", "--yes", "--wait").returncode == 0
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 1 and "cutover is in place" in r.stderr and "rollback" in r.stderr
    assert cli("finalize", "--env", "demo", "--yes").returncode == 0
    state = _all(project)
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 1 and "this migration is finalized" in r.stderr
    assert "own environment file" in r.stderr and _all(project) == state


def _custom_profile(project: Path) -> None:
    """The target profile as a copy in the user's templates/, so the test can delete it."""
    (project / "templates").mkdir()
    shutil.copy(REPO / "templates" / "microsoft365.yaml.j2", project / "templates" / "m365.yaml.j2")
    _edit_env(project, lambda d: d["migration"].update(to="m365"))


BREAKAGES = {
    "invalid YAML": lambda p: (p / "environments" / "demo.yaml").write_text("provider: [\n"),
    "unknown key": lambda p: _edit_env(p, lambda d: d.update(colour="blue")),
    "misspelled profile": lambda p: _edit_env(p, lambda d: d["migration"].update(to="m356")),
    "deleted template": lambda p: (p / "templates" / "m365.yaml.j2").unlink(),
    "not UTF-8": lambda p: (p / "environments" / "demo.yaml").write_bytes(b"provider: \xff\xfe\n"),
    "deleted file": lambda p: (p / "environments" / "demo.yaml").unlink(),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_rollback_restores_exactly_with_a_broken_environment_file(project, cli, breakage):
    _custom_profile(project)
    original = _all(project)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    assert _all(project) != original
    BREAKAGES[breakage](project)
    assert cli("plan", "--env", "demo").returncode == 2  # everything else refuses the file
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "rolling back with" in r.stdout + r.stderr
    assert _all(project) == original


def test_rollback_from_a_fresh_checkout_with_state_pointing_at_the_kept_settings(project, cli):
    original = _all(project)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    state = project / "elsewhere"
    shutil.move(project / ".cutover" / "demo", state)  # a CI runner holding only the state
    (project / "environments" / "demo.yaml").unlink()
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 2 and "--state" in r.stderr
    r = cli("rollback", "--env", "demo", "--yes", "--state", str(state))
    assert r.returncode == 0, r.stderr
    assert _all(project) == original
    kept = json.loads((state / "settings.json").read_text())
    assert set(kept) <= {"env", "provider", "state", "validation", "zone_ids"}


def test_drift_found_at_a_later_zone_says_what_was_applied(project, cli):
    """Zone 1 applied, then someone edits zone 2 before the run reaches it: the run stops with
    exit 1 and says DNS was changed in zone 1 (never "nothing was applied")."""
    marker = project / "pause"
    env = {"CUTOVER_TEST_PAUSE": f"after-zone-1={marker}"}
    proc = spawn_cli(project, "prepare", "--env", "demo", "--yes", env=env)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        path = project / "demo" / "zones" / "example.org.zone"
        path.write_text(path.read_text().replace("@ 10 IN MX 1 smtp.google.com.", "@ 10 IN MX 9 hand.example.org."))  # fmt: skip
        marker.unlink()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "nothing was applied" not in err
    assert "DNS was changed in example.com" in err and "invoke rollback --env demo" in err
    assert runs(project)[-1]["applied"] == ["example.com."]
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert zone_state(project, "example.com") == _pristine(project, "example.com")
    assert zone_state(project, "example.org")[("example.org.", "MX")][1] == ["9 hand.example.org."]


def _pristine(project: Path, zone: str) -> dict:
    fresh = project.parent / "pristine"
    if not fresh.exists():
        shutil.copytree(REPO / "demo", fresh / "demo")
    return zone_state(fresh, zone)


def test_validate_after_a_prepare_that_kept_lower_ttls_is_in_sync(project, cli):
    _edit_env(project, lambda d: d.update(ttl={"cutover": 3600, "final": 60}))
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    r = cli("validate", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["failed"] == 0


def test_an_mx_changed_by_hand_after_prepare_is_drift(project, cli):
    """prepare keeps the MX values (it lowers their TTL only); validate holds them to what
    prepare left, so a hand edit before cutover fails the CI gate."""
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    assert cli("validate", "--env", "demo").returncode == 0
    path = project / "demo" / "zones" / "example.org.zone"
    path.write_text(path.read_text().replace("MX 1 smtp.google.com.", "MX 9 hand.example.org."))
    r = cli("validate", "--env", "demo", "--json")
    assert r.returncode == 1, r.stderr
    bad = [f for f in json.loads(r.stdout)["findings"] if f["status"] != "OK"]
    assert [(f["name"], f["type"], f["status"]) for f in bad] == [
        ("example.org.", "MX", "VALUE_MISMATCH")
    ]
    assert cli("validate", "--env", "demo", "--stage", "cutover").returncode == 1  # as before
