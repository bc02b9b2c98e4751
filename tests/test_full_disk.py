"""A full disk under the state, as production has it: a tiny tmpfs (root mounts one) and
RLIMIT_FSIZE on the child (writes past it fail with EFBIG). Never exit 0 with unusable state;
rollback works once space returns. Zones are read back with dnspython, never through cutover."""

from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_project, run_cli
from tests.lifecycle_helpers import runs_of, zone_state

ZONES = ("example.com", "example.org")


def _all(project: Path) -> dict:
    return {z: zone_state(project, z) for z in ZONES}


def _began_length(tmp_path: Path) -> int:
    """How long the demo's `began` line is, measured on a scratch copy of the project."""
    scratch = copy_project(tmp_path / "scratch")
    assert run_cli(scratch, "prepare", "--env", "demo", "--yes").returncode == 0
    lines = (scratch / ".cutover" / "demo" / "journal.jsonl").read_bytes().splitlines(True)
    assert json.loads(lines[0])["event"] == "began"
    return len(lines[0])


def test_a_journal_cut_after_the_first_zone_is_exit_3_naming_the_change_and_rollback_works(
    project, tmp_path
):
    original = _all(project)
    limit = _began_length(tmp_path) + 60  # `began` fits, the first zone's line does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run_cli(project, "prepare", "--env", "demo", "--yes", preexec_fn=small_files)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "DNS was changed in example.com" in r.stderr and "snapshot" in r.stderr
    assert "invoke rollback --env demo" in r.stderr
    assert zone_state(project, "example.com") != original["example.com"]
    assert zone_state(project, "example.org") == original["example.org"]
    assert not (project / ".cutover" / "demo" / "lock").exists()

    status = run_cli(project, "status", "--env", "demo", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["incomplete_stage"] == "prepare" and doc["open_run"] is not None
    assert "example.com." in doc["open_run"]["unknown_zones"] + doc["open_run"]["applied_zones"]
    r = run_cli(project, "rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert _all(project) == original


@pytest.fixture
def tiny_state(project, tmp_path):
    """The environment's state directory on a 64 KiB tmpfs, unmounted at the end."""
    mount = tmp_path / "state"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["state"] = {"backend": "local", "directory": str(mount)}
    path.write_text(yaml.safe_dump(data))
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _fill(mount: Path, leave: int) -> Path:
    """Fill the tmpfs until about `leave` bytes are free; return the filler to delete later."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    size = filler.stat().st_size
    with open(filler, "r+b") as fh:
        fh.truncate(max(0, size - leave))
    return filler


@pytest.mark.parametrize("leave", [0, 4096, 8192])
def test_a_full_state_disk_before_any_dns_change_is_exit_3_with_nothing_changed(
    project, tiny_state, leave
):
    original = _all(project)
    filler = _fill(tiny_state, leave)
    r = run_cli(project, "prepare", "--env", "demo", "--yes")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "nothing was applied" in r.stderr
    assert _all(project) == original
    assert not (tiny_state / "lock").exists()
    for snap in (tiny_state / "snapshots").glob("*") if (tiny_state / "snapshots").exists() else []:
        json.loads(snap.read_text())  # no half-written snapshot is left to be trusted

    filler.unlink()  # space returns: the same commands work, and so does the rollback
    r = run_cli(project, "prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    lines = (tiny_state / "journal.jsonl").read_text().splitlines()
    assert [r["end"]["event"] for r in runs_of([json.loads(x) for x in lines])] == ["completed"]
    r = run_cli(project, "rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert _all(project) == original
