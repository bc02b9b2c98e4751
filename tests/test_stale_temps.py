"""Temporary files of a run killed with SIGKILL mid-write are removed by the next run that holds
the lock, and nothing else is: not a file outside our naming pattern, not one a live process
(or another host) may still be writing, not while another run's lock is in place.

Real runs of the `cutover` program, stopped by SIGKILL at a pause point right after a temporary
file was written and fsynced, before its rename: the state directory's snapshot temp and the
zone file's temp next to the zone.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dns.zone

from tests.conftest import run_cli
from tests.test_interrupted_runs import kill_at

KILL = signal.SIGKILL
PREPARE = ("prepare", "--env", "demo", "--yes")


def temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".tmp"))


def removal_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("removed ")]


def test_a_snapshot_temp_of_a_killed_run_is_removed_by_the_next_run_holding_the_lock(project):
    state = project / ".cutover" / "demo"
    code, out, err = kill_at(project, "snapshot-temp-written", KILL, *PREPARE)
    assert code == -KILL, f"{out}\n{err}"
    (left,) = temps(state / "snapshots")
    tag, pid = left.name.split(".")[-4:-2]
    assert pid.isdigit() and len(tag) == 8, left.name
    other_tag = "0" * 8 if tag != "0" * 8 else "1" * 8
    kept = [
        state / "snapshots" / "notes.tmp",  # not our pattern
        state / "snapshots" / f".old-style.{pid}.0123abcd.tmp",  # no host tag: cannot tell
        state / f".settings.json.{tag}.{os.getpid()}.0123abcd.tmp",  # its writer (us) is alive
        state / f".settings.json.{other_tag}.{pid}.0123abcd.tmp",  # another host's pid
    ]
    for path in kept:
        path.write_text("someone's\n")

    # the dead run's lock is still there: a run that does not hold the lock removes nothing
    r = run_cli(project, *PREPARE)
    assert r.returncode == 4, f"{r.stdout}\n{r.stderr}"
    assert left.exists()
    r = run_cli(project, "status", "--env", "demo")
    assert left.exists() and not removal_lines(r.stdout)

    assert run_cli(project, "unlock", "--env", "demo", "--yes").returncode == 0
    r = run_cli(project, *PREPARE)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert removal_lines(r.stdout) == [
        f"removed {left}: a temporary file left by a run that was killed mid-write"
    ], r.stdout
    assert not left.exists()
    assert all(p.exists() for p in kept), [p.name for p in kept if not p.exists()]

    r = run_cli(project, *PREPARE)  # nothing left to remove: nothing said
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert removal_lines(r.stdout) == [], r.stdout


def test_a_zone_temp_of_a_killed_write_is_removed_and_the_zone_is_whole(project):
    zones = project / "demo" / "zones"
    originals = {p: p.read_bytes() for p in zones.glob("*.zone")}
    code, out, err = kill_at(project, "zone-temp-written", KILL, *PREPARE)
    assert code == -KILL, f"{out}\n{err}"
    (left,) = temps(zones)
    assert {p: p.read_bytes() for p in zones.glob("*.zone")} == originals  # killed pre-rename
    zone_file = zones / left.name.rsplit(".", 2)[0]
    assert zone_file in originals, left.name
    kept = [
        zones / "README.tmp",
        zones / f"{zone_file.name}.notes.tmp",  # not 8 characters: not our name
        zones / f"{zone_file.name}.ABCDEFGH.tmp",  # upper case: not our name
        zones / f".{zone_file.name}.0123abcd.tmp",
    ]
    for path in kept:
        path.write_text("someone's\n")

    assert run_cli(project, "unlock", "--env", "demo", "--yes").returncode == 0
    r = run_cli(project, *PREPARE)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert removal_lines(r.stdout) == [
        f"removed {left}: a temporary file left by a run that was killed mid-write"
    ], r.stdout
    assert not left.exists()
    assert all(p.exists() for p in kept), [p.name for p in kept if not p.exists()]
    for path in originals:  # every zone written whole and readable (independent reader)
        dns.zone.from_file(str(path), origin=path.stem + ".", relativize=False)
    assert temps(zones) == sorted(kept)
