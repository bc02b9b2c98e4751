"""The command-line contract CI and the on-call rely on, through the real `cutover` program:
exit codes, one line per failure and no traceback, --json documents, saved plans, --domain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_cli
from tests.lifecycle_helpers import fast_demo, zone_state

ZONES = ("example.com", "example.org")


def _all(project: Path) -> dict:
    return {z: zone_state(project, z) for z in ZONES}


def _one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr and len(lines) >= 1, r.stderr
    assert lines[-1].startswith("error: "), r.stderr
    return lines[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--env", "demo", "--jsn"],
        ["validate", "--env", "demo", "--junit"],
        ["no-such-task"],
        ["plan", "--env"],
    ],
)
def test_flag_parse_errors_exit_2_not_1(cli, args):
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "error:" in r.stderr and "Traceback" not in r.stderr


BAD_CALLS = {
    "junit in a missing dir": (["validate", "--env", "demo", "--junit", "/missing/dir/v.xml"], 2),
    "audit output missing dir": (["audit", "--env", "demo", "--output", "/missing/a.html"], 2),
    "audit output a dir": (["audit", "--env", "demo", "--output", "."], 2),
    "serve port not a number": (["serve", "--env", "demo", "--port", "abc"], 2),
    "serve port out of range": (["serve", "--env", "demo", "--port", "99999"], 2),
    "unknown domain": (["plan", "--env", "demo", "--domain", "nope.example"], 2),
    "unknown snapshot": (["rollback", "--env", "demo", "--snapshot", "nope", "--yes"], 2),
    "plan file missing": (["prepare", "--env", "demo", "--plan", "/missing.json", "--yes"], 2),
    "unknown environment": (["status", "--env", "nope"], 2),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_flags_paths_and_files_are_one_line_with_the_documented_code(cli, name):
    args, code = BAD_CALLS[name]
    r = cli(*args)
    assert r.returncode == code, (r.stdout, r.stderr)
    _one_line(r)


def test_state_directory_not_a_path_and_non_utf8_environment_are_one_line(project, cli):
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["state"] = {"backend": "local", "directory": 42}
    path.write_text(yaml.safe_dump(data))
    r = cli("status", "--env", "demo")
    assert r.returncode == 2 and "state.directory" in _one_line(r)
    path.write_bytes(b"provider: \xff\n")
    r = cli("status", "--env", "demo")
    assert r.returncode == 2 and "not UTF-8" in _one_line(r)


def test_serve_on_a_port_in_use_is_a_usage_error(project, cli):
    import socket

    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        r = cli("serve", "--env", "demo", "--port", str(busy.getsockname()[1]), timeout=30)
    finally:
        busy.close()
    assert r.returncode == 2 and "cannot listen" in _one_line(r)


def test_json_prints_one_document_for_a_refusal_too(project, cli):
    r = cli("cutover", "--env", "demo", "--yes", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 1 and "prepare" in doc["error"]
    r = cli("prepare", "--env", "nope", "--yes", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["exit_code"] == 2


def test_plan_header_summary_json_counts_and_detailed_exitcode(cli):
    r = cli("plan", "--env", "demo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("plan for demo: stage prepare, 2 zone(s)")
    assert "prepare: 2 of 2 zone(s) change:" in r.stdout and "to add" in r.stdout
    doc = json.loads(cli("plan", "--env", "demo", "--json").stdout)
    assert doc["schema"] == "mailcutover.plan/1" and doc["changes_pending"] is True
    assert doc["counts"]["zones_changed"] == 2 and doc["counts"]["create"] > 0
    assert cli("plan", "--env", "demo", "--detailed-exitcode").returncode == 5
    md = cli("plan", "--env", "demo", "--markdown").stdout
    assert md.startswith("### mailcutover plan: `demo`, stage `prepare`")
    assert "| + | `selector1._domainkey` | CNAME |" in md


def test_nothing_pending_is_exit_0_with_detailed_exitcode(project, cli):
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    r = cli("plan", "--env", "demo", "--stage", "prepare", "--detailed-exitcode")
    assert r.returncode == 0 and "0 of 2 zone(s) change" in r.stdout


def test_domain_limits_the_read_only_tasks(cli):
    doc = json.loads(cli("plan", "--env", "demo", "--domain", "example.org", "--json").stdout)
    assert [p["zone"] for p in doc["plans"]] == ["example.org."]
    doc = json.loads(cli("render", "--env", "demo", "--domain", "example.org", "--json").stdout)
    assert list(doc["stages"]["prepare"]) == ["example.org"]


def test_a_saved_plan_is_applied_exactly(project, cli, tmp_path):
    saved = tmp_path / "plan.json"
    assert cli("plan", "--env", "demo", "--out", str(saved)).returncode == 0
    r = cli("prepare", "--env", "demo", "--plan", str(saved), "--yes")
    assert r.returncode == 0, r.stderr
    assert zone_state(project, "example.com")[("example.com.", "MX")][0] == 5
    r = cli("cutover", "--env", "demo", "--plan", str(saved), "--yes")
    assert r.returncode == 2 and "saved for demo prepare" in _one_line(r)


@pytest.mark.parametrize("change", ["dns", "environment", "template"])
def test_a_saved_plan_is_refused_when_anything_changed_since(project, cli, tmp_path, change):
    saved = tmp_path / "plan.json"
    if change == "template":
        (project / "templates").mkdir()
        src = (REPO / "templates" / "microsoft365.yaml.j2").read_text()
        (project / "templates" / "microsoft365.yaml.j2").write_text(src)
    assert cli("plan", "--env", "demo", "--out", str(saved)).returncode == 0
    if change == "dns":
        path = project / "demo" / "zones" / "example.org.zone"
        path.write_text(path.read_text().replace("MX 1 smtp.google.com.", "MX 9 hand.example.org."))
    elif change == "environment":
        path = project / "environments" / "demo.yaml"
        path.write_text(path.read_text() + "\n# reviewed? not this line\n")
    else:
        path = project / "templates" / "microsoft365.yaml.j2"
        path.write_text(path.read_text() + "\n# edited after review\n")
    before = _all(project)
    r = cli("prepare", "--env", "demo", "--plan", str(saved), "--yes")
    assert r.returncode == 1, (r.stdout, r.stderr)
    line = _one_line(r)
    assert "changed since the plan was saved" in line
    assert {"dns": "example.org", "environment": "environment file", "template": "profile"}[
        change
    ] in line
    assert _all(project) == before


def test_without_a_terminal_the_gate_wait_prints_plain_lines(project, cli):
    fast_demo(project, old_ttl=2)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    r = cli("cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 0, r.stderr
    assert "s left (gate opens at" in r.stdout and "gate open" in r.stdout


def test_short_flags_mean_one_thing_in_every_task(cli):
    for task in ("plan", "lint", "prepare", "rollback", "validate", "status"):
        r = cli("--help", task)
        assert r.returncode == 0, r.stderr
        assert "-s," not in r.stdout and "-s " not in r.stdout  # --stage, --strict, --snapshot
        assert "-e STRING, --env=STRING" in r.stdout
        assert "Exit codes" in r.stdout


def test_invoke_debug_prints_no_credentials(project, tmp_path):
    """Invoke's -d opens DEBUG logging; botocore would log the access key id and token."""
    secret_id, token = "AKIAEXAMPLESECRETID1", "session-token-that-must-not-leak"
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["state"] = {"backend": "s3", "bucket": "b"}
    path.write_text(yaml.safe_dump(data))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AWS_ACCESS_KEY_ID": secret_id,
        "AWS_SECRET_ACCESS_KEY": "x" * 40,
        "AWS_SESSION_TOKEN": token,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",  # nothing listens: fails fast, locally
        "AWS_MAX_ATTEMPTS": "1",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cutover.cli import main; main()",
            "-d",
            "snapshots",
            "--env",
            "demo",
        ],  # fmt: skip
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 3, r.stderr[-2000:]
    assert "invoke.program" in r.stderr  # debug logging was on
    assert secret_id not in r.stderr + r.stdout and token not in r.stderr + r.stdout


def test_runs_from_a_subfolder_or_with_root(project, tmp_path):
    sub = project / "demo" / "zones"
    r = run_cli(sub, "plan", "--env", "demo")
    assert r.returncode == 0 and r.stdout.startswith("plan for demo"), r.stderr
    r = run_cli(tmp_path, "--root", str(project), "prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert (project / ".cutover" / "demo" / "journal.jsonl").exists()  # state under the root
    assert zone_state(project, "example.com")[("example.com.", "MX")][0] == 5


def test_the_readme_exit_code_table_is_the_code():
    import re

    from cutover.errors import (
        EXIT_CODES,
        ChecksFailed,
        CutoverError,
        LockHeld,
        ProviderError,
        UsageError,
    )
    from cutover.signals import HANDLED

    readme = (REPO / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", readme.split("## Exit codes")[1], re.M))
    assert {int(k): v for k, v in table.items()} == EXIT_CODES
    for cls in (CutoverError, ChecksFailed, UsageError, ProviderError, LockHeld):
        assert cls.exit_code in EXIT_CODES
    assert {128 + s for s in HANDLED} <= set(EXIT_CODES)


def test_every_task_refuses_an_unknown_flag_and_an_unknown_environment_in_one_line(cli):
    from cutover.tasks import ns

    for name in sorted(ns.task_names):
        r = cli(name, "--no-such-flag")
        assert r.returncode == 2, (name, r.stderr)
        assert "Traceback" not in r.stderr and "error:" in r.stderr
        r = cli("--help", name)
        assert r.returncode == 0 and "Exit codes" in r.stdout, name
        if name == "profiles":
            continue  # lists profiles without an environment
        r = cli(name, "--env", "nope", "--yes") if name in {"prepare", "cutover", "finalize",
            "rollback", "unlock"} else cli(name, "--env", "nope")  # fmt: skip
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "no environment file" in _one_line(r)


def test_a_closed_pipe_is_quiet(project):
    r = subprocess.run(
        f"'{sys.executable}' -c 'from cutover.cli import main; main()' render --env demo | head -1",
        shell=True,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.count("\n") == 1 and r.stderr == "", r.stderr


def test_validate_before_any_stage_gates_drift_against_the_from_profile(project, cli):
    r = cli("validate", "--env", "demo", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["stage"] == "none", r.stderr
    assert doc["summary"]["failed"] == 0 and doc["summary"]["checks"] > 0
    path = project / "demo" / "zones" / "example.org.zone"
    path.write_text(
        path.read_text().replace("include:_spf.google.com ~all", "include:x.example ~all")
    )
    r = cli("validate", "--env", "demo", "--stage", "none", "--json")
    assert r.returncode == 1, r.stderr
    bad = {(f["zone"], f["type"], f["status"]) for f in json.loads(r.stdout)["findings"] if f["status"] != "OK"}  # fmt: skip
    assert ("example.org.", "TXT", "VALUE_MISMATCH") in bad
    assert all(f["expected"] is not None for f in json.loads(r.stdout)["findings"] if f["type"] != "TXT" or f["name"] != "_dmarc.example.org.")  # fmt: skip
    assert cli("prepare", "--env", "demo", "--stage", "none", "--yes").returncode == 2


@pytest.mark.parametrize("damage", [b"@ 10 IN MX not-a-number\n", b"; \xff\xfe\n"])
def test_a_broken_zone_file_is_bad_input_exit_2(project, cli, damage):
    path = project / "demo" / "zones" / "example.org.zone"
    path.write_bytes(path.read_bytes() + damage)
    r = cli("plan", "--env", "demo")
    assert r.returncode == 2 and "example.org.zone" in _one_line(r), r.stderr
