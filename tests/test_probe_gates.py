"""The probe in the lifecycle: `probe.require` refuses the cutover with nothing changed, an
advisory probe is journaled, `validate --probe` adds the served MX's probe (JSON and JUnit),
and the demo's embedded stand-in answers offline. Real aiosmtpd servers; never DATA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, copy_project, run_cli
from tests.lifecycle_helpers import fast_demo, runs, zone_state
from tests.smtp_servers import Behaviour, Server, TestCA, assert_no_data
from tests.test_probe import DENIED

ZONES = ("example.com", "example.org")
MX = {z: f"{z.replace('.', '-')}.mail.protection.outlook.com" for z in ZONES}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """An MX that takes mail and one that answers 550 5.4.1, both with certificates for the
    demo's new MX names from a test CA."""
    folder = tmp_path_factory.mktemp("smtp-gates")
    ca = TestCA(folder)
    names = list(MX.values())
    started = {
        "accepts": Server(Behaviour(), ca.server_context(*names)),
        "denied": Server(Behaviour(rcpt=DENIED), ca.server_context(*names)),
    }
    for srv in started.values():
        srv.start()
    yield ca, started
    for srv in started.values():
        srv.stop()
    assert_no_data(list(started.values()))


def set_probe(root: Path, ca: TestCA, srv: dict[str, Server], route: dict[str, str], **extra):
    """The demo's probe section pointed at the test servers: route[zone] = accepts | denied."""
    path = root / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    hosts = {MX[z]: srv[route[z]].address for z in ZONES}
    data["probe"] = {"ca_file": str(ca.path), "hosts": hosts, "timeout": 5, **extra}
    path.write_text(yaml.safe_dump(data))


def _state(root: Path) -> dict:
    return {z: zone_state(root, z) for z in ZONES}


def _prepared(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "repo")
    fast_demo(root)
    r = run_cli(root, "prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    return root


def test_require_refuses_cutover_with_nothing_changed_until_every_mx_accepts(tmp_path, servers):
    ca, srv = servers
    root = _prepared(tmp_path)
    set_probe(root, ca, srv, {"example.com": "denied", "example.org": "accepts"}, require=True)
    before = _state(root)
    r = run_cli(root, "cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 1, (r.stdout, r.stderr)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cutover refused: probe.require: 1 of 2"), last
    assert "example.com" in last and "REJECTS_RECIPIENT" in last and "5.4.1" in last
    assert _state(root) == before  # zone files read back: nothing changed
    assert [run["stage"] for run in runs(root)] == ["prepare"]  # no cutover run began
    assert "probe" not in runs(root)[0] or runs(root)[0]["probe"] is None

    set_probe(root, ca, srv, {"example.com": "accepts", "example.org": "accepts"}, require=True)
    r = run_cli(root, "cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 0, r.stderr
    cut = runs(root)[-1]
    assert cut["stage"] == "cutover" and cut["end"]["event"] == "completed"
    assert cut["probe"]["require"] is True and cut["probe"]["accepts"] is True
    assert {h["host"]: h["finding"] for h in cut["probe"]["hosts"]} == {
        MX[z]: "ACCEPTS" for z in ZONES
    }
    assert _state(root)[("example.com")][("example.com.", "MX")][1] == [f"0 {MX['example.com']}."]


def test_force_overrides_require_and_the_journal_says_so(tmp_path, servers):
    ca, srv = servers
    root = _prepared(tmp_path)
    set_probe(root, ca, srv, {"example.com": "denied", "example.org": "denied"}, require=True)
    r = run_cli(root, "cutover", "--env", "demo", "--yes", "--wait", "--force", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["probe"]["accepts"] is False  # the outcome document has it too
    cut = runs(root)[-1]
    assert cut["forced"] is True and "probe.require: 2 of 2" in cut["forced_reason"]
    assert cut["probe"]["accepts"] is False


def test_advisory_probe_warns_and_is_journaled(tmp_path, servers):
    ca, srv = servers
    root = _prepared(tmp_path)
    set_probe(root, ca, srv, {"example.com": "accepts", "example.org": "denied"})
    r = run_cli(root, "cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 0, r.stderr
    assert "warning: probe: example.org: MX" in r.stdout and "advisory" in r.stdout
    cut = runs(root)[-1]
    assert cut["probe"]["require"] is False and cut["probe"]["accepts"] is False
    assert {h["domain"]: h["finding"] for h in cut["probe"]["hosts"]} == {
        "example.com": "ACCEPTS",
        "example.org": "REJECTS_RECIPIENT",
    }

    # validate: the DNS gate is clean and never probes unasked ...
    r = run_cli(root, "validate", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    assert "probe" not in json.loads(r.stdout)
    # ... and --probe adds the served MX's probe to JSON and JUnit
    junit = root / "validate.xml"
    r = run_cli(root, "validate", "--env", "demo", "--probe", "--json", "--junit", str(junit))
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["summary"]["failed"] == 0 and doc["ok"] is False and doc["exit_code"] == 1
    assert doc["probe"]["source"] == "live"
    assert {h["host"]: h["finding"] for h in doc["probe"]["hosts"]} == {
        MX["example.com"]: "ACCEPTS",
        MX["example.org"]: "REJECTS_RECIPIENT",
    }
    assert "error: probe: 1 of 2 MX host(s)" in r.stderr
    cases = ET.parse(junit).getroot().findall("testcase")
    probe_cases = {c.get("classname"): c for c in cases if c.get("classname").startswith("probe.")}
    assert set(probe_cases) == {"probe.example.com", "probe.example.org"}
    assert probe_cases["probe.example.com"].find("failure") is None
    assert probe_cases["probe.example.org"].find("failure").get("type") == "REJECTS_RECIPIENT"

    # probe.in_validate turns it on without the flag
    set_probe(root, ca, srv, {"example.com": "accepts", "example.org": "accepts"}, in_validate=True)
    r = run_cli(root, "validate", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["probe"]["summary"]["passing"] == 2


def test_demo_probe_answers_offline_from_the_embedded_stand_in(project):
    r = run_cli(project, "probe", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {h["host"]: h["finding"] for h in doc["hosts"]} == {m: "ACCEPTS" for m in MX.values()}
    for host in doc["hosts"]:
        (address,) = host["addresses"]
        assert address["address"] == "127.0.0.1" and address["tls"]["verified"] is True
        assert [r["recipient"] for r in address["recipients"]] == [f"postmaster@{host['domain']}"]
    r = run_cli(project, "probe", "--env", "demo")
    assert r.returncode == 0 and "ACCEPTS" in r.stdout and "2/2 MX host(s)" in r.stdout


def test_an_address_family_without_a_route_is_noted_not_failed(project):
    """In a network namespace whose loopback has no IPv6 address, connecting to ::1 fails with
    EADDRNOTAVAIL, as on a host without IPv6: that address is noted, and the host passes on
    its IPv4 address (the embedded stand-in)."""
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["probe"]["hosts"][MX["example.com"]] = ["[::1]:2525", "embedded"]
    path.write_text(yaml.safe_dump(data))
    script = (
        "ip link set lo up && ip -6 addr del ::1/128 dev lo && "
        'exec "$0" -c "from cutover.cli import main; main()" "$@"'
    )
    r = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            script,
            sys.executable,
            "probe",
            "--env",
            "demo",
            "--json",
        ],  # noqa: E501
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    host = next(h for h in json.loads(r.stdout)["hosts"] if h["domain"] == "example.com")
    v6, v4 = host["addresses"]
    assert (v6["family"], v6["finding"], v6["family_unreachable"]) == (
        "ipv6",
        "CONNECT_FAILED",
        True,
    )  # noqa: E501
    assert (v4["family"], v4["finding"]) == ("ipv4", "ACCEPTS")
    assert host["ok"] is True and "no route for ipv6" in host["note"]
