"""`probe`: real SMTP servers on loopback (aiosmtpd, STARTTLS from a test CA) for each way an
MX can answer, through the `cutover` program with --json. No server ever sees DATA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_project, run_cli
from tests.smtp_servers import (
    Behaviour,
    Greeter,
    Server,
    TestCA,
    assert_no_data,
    closed_port,
)

REGION = "451 4.4.62 Mail sent to the wrong Office 365 region. ATTR35. For more information please go to https://go.microsoft.com/fwlink/?linkid=865268"  # noqa: E501
DENIED = "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)"
BLOCKED = "550 5.7.1 Client host [127.0.0.1] blocked using zen.spamhaus.org"

#: domain kind -> (behaviour, certificate name or None for no STARTTLS, expected finding)
KINDS = {
    "accepts": (Behaviour(), "mx.accepts.test", "ACCEPTS"),
    "denied": (Behaviour(rcpt=DENIED), "mx.denied.test", "REJECTS_RECIPIENT"),
    "region": (Behaviour(rcpt=REGION), "mx.region.test", "TEMPFAIL"),
    "plain": (Behaviour(), None, "NO_STARTTLS"),
    "wrongname": (Behaviour(), "mx.somebody-else.test", "TLS_INVALID"),
    "closed": (None, None, "CONNECT_FAILED"),
    "blocked": (Behaviour(mail=BLOCKED), "mx.blocked.test", "REJECTS_CLIENT"),
    "greeting": (
        "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked",
        None,
        "REJECTS_CLIENT",
    ),  # noqa: E501
    "silent": (None, None, "TEMPFAIL"),  # connects, never greets: not a blocked port 25
}


def probe_env(root: Path, name: str, ca: Path, hosts: dict[str, str], **probe) -> str:
    """An environment of one domain per kind (the custom profile: MX listed directly)."""
    data = yaml.safe_load((root / "environments" / "demo.yaml").read_text())
    data["migration"] = {"from": "google-workspace", "to": "custom", "keep_spf": []}
    data["domains"] = {f"{kind}.test": {"to": {"mx": [f"10 mx.{kind}.test"]}} for kind in KINDS}
    data["probe"] = {"ca_file": str(ca), "hosts": hosts, "timeout": 5, **probe}
    (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return name


@pytest.fixture(scope="module")
def smtp_world(tmp_path_factory):
    """One server per kind, a test CA, and a project whose `probe` environment maps to them."""
    folder = tmp_path_factory.mktemp("smtp")
    ca = TestCA(folder)
    servers, hosts = {}, {}
    for kind, (behaviour, cert, _) in KINDS.items():
        if behaviour is None and kind == "closed":
            hosts[f"mx.{kind}.test"] = closed_port()
            continue
        if behaviour is None or isinstance(behaviour, str):
            srv = Greeter(behaviour)
        else:
            srv = Server(behaviour, ca.server_context(cert) if cert else None)
        srv.start()
        servers[kind] = srv
        hosts[f"mx.{kind}.test"] = srv.address
    root = copy_project(folder / "repo")
    yield root, ca, servers, hosts
    for srv in servers.values():
        srv.stop()
    assert_no_data(list(servers.values()))


@pytest.fixture(scope="module")
def probed(smtp_world):
    root, ca, servers, hosts = smtp_world
    recipients = {"accepts.test": ["alice@accepts.test", "bob"], "denied.test": ["carol"]}
    env = probe_env(root, "probe", ca.path, hosts, recipients=recipients)
    r = run_cli(root, "probe", "--env", env, "--json")
    assert r.stdout.strip(), r.stderr
    return r, json.loads(r.stdout)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_server_gives_its_finding(probed, kind):
    _, doc = probed
    (host,) = [h for h in doc["hosts"] if h["domain"] == f"{kind}.test"]
    assert host["host"] == f"mx.{kind}.test" and host["via"] == "probe.hosts"
    assert host["finding"] == KINDS[kind][2], host
    assert host["ok"] is (kind == "accepts")


def test_replies_tls_and_recipients_are_reported(probed, smtp_world):
    _, doc = probed
    by = {h["domain"].split(".")[0]: h for h in doc["hosts"]}
    (accepts,) = by["accepts"]["addresses"]
    assert accepts["tls"] == {
        "offered": True,
        "verified": True,
        "error": None,
        "version": "TLSv1.3",
    }
    assert [(r["recipient"], r["code"], r["finding"]) for r in accepts["recipients"]] == [
        ("alice@accepts.test", 250, "ACCEPTS"),
        ("bob@accepts.test", 250, "ACCEPTS"),
    ]
    (denied,) = by["denied"]["addresses"]
    assert denied["recipients"][0]["recipient"] == "carol@denied.test"
    assert denied["recipients"][0]["code"] == 550
    assert denied["recipients"][0]["reply"].startswith("5.4.1 Recipient address rejected")
    assert "4.4.62" in by["region"]["addresses"][0]["detail"]
    assert by["region"]["addresses"][0]["recipients"][0]["code"] == 451
    assert by["plain"]["accepts"] is True and by["plain"]["addresses"][0]["tls"]["offered"] is False
    bad_name = by["wrongname"]["addresses"][0]
    assert bad_name["tls"]["verified"] is False and "mx.wrongname.test" in bad_name["tls"]["error"]
    assert bad_name["recipients"] == []  # a session that failed TLS goes no further
    blocked = by["blocked"]["addresses"][0]
    assert blocked["step"] == "mail" and "5.7.1" in blocked["detail"]
    assert "port 25 is often blocked" in by["closed"]["line"]
    refused = by["greeting"]["addresses"][0]
    assert refused["step"] == "greeting" and refused["greeting"].startswith("554 5.7.1")
    assert [x.upper() for x in smtp_world[2]["greeting"].lines] == [
        "QUIT"
    ]  # refused at the greeting: only QUIT
    # the recipients reached the servers over TLS (STARTTLS took, then EHLO again)
    _, _, servers, _ = smtp_world
    assert servers["accepts"].handler_obj.tls_sessions >= 2


def test_exit_code_and_one_line(probed):
    r, doc = probed
    assert r.returncode == 1 and doc["exit_code"] == 1 and doc["ok"] is False
    assert doc["schema"] == "mailcutover.probe/1" and doc["source"] == "render"
    assert doc["stage"] == "cutover"
    assert doc["summary"]["hosts"] == len(KINDS) and doc["summary"]["passing"] == 1
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: probe: {len(KINDS) - 1} of {len(KINDS)} MX host(s)")
    )


def test_a_host_passes_when_the_addresses_that_answer_accept(smtp_world):
    """Two addresses for one MX host, one closed: the host still passes, the dead address is
    listed (with none answering it is CONNECT_FAILED: the `closed` kind)."""
    root, ca, _servers, hosts = smtp_world
    two = {**hosts, "mx.accepts.test": [closed_port(), hosts["mx.accepts.test"]]}
    env = probe_env(root, "probe-two", ca.path, two)
    r = run_cli(root, "probe", "--env", env, "--domain", "accepts.test", "--json")
    assert r.returncode == 0, r.stderr
    (host,) = json.loads(r.stdout)["hosts"]
    assert [a["finding"] for a in host["addresses"]] == ["CONNECT_FAILED", "ACCEPTS"]
    assert host["finding"] == "ACCEPTS" and host["ok"] is True


def test_only_accepting_hosts_exit_0_and_no_host_answering_exits_3(smtp_world):
    root, ca, _servers, hosts = smtp_world
    env = probe_env(root, "probe-ok", ca.path, hosts)
    r = run_cli(root, "probe", "--env", env, "--domain", "accepts.test", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [h["recipients"] for h in doc["hosts"]] == [["postmaster@accepts.test"]]
    r = run_cli(root, "probe", "--env", env, "--domain", "closed.test")
    assert r.returncode == 3, r.stderr
    assert "no MX host answered" in r.stderr and "port 25 is often blocked" in r.stderr


@pytest.mark.parametrize(
    ("probe", "key"),
    [
        ({"port": "twenty-five"}, "probe.port"),
        ({"hosts": {"mx.accepts.test": "192.0.2.1:25"}}, "probe.hosts.mx.accepts.test"),
        ({"recipients": {"nope.test": ["a"]}}, "probe.recipients.nope.test"),
        ({"recipients": ["not an address"]}, "probe.recipients[0]"),
        ({"recipients": []}, "probe.recipients"),
        ({"recipients": {"accepts.test": []}}, "probe.recipients.accepts.test"),
        # smtplib speaks ASCII only (no SMTPUTF8): a non-ASCII address crashed the session
        ({"recipients": ["jörg@accepts.test"]}, "probe.recipients[0]"),
        ({"recipients": {"accepts.test": ["jörg"]}}, "probe.recipients.accepts.test[0]"),
        ({"sender": "jörg@example.com"}, "probe.sender"),
        ({"require": "yes"}, "probe.require"),
        ({"ca_file": "missing.pem"}, "probe.ca_file"),
        ({"colour": "blue"}, "probe.colour"),
    ],
)
def test_bad_probe_settings_are_one_line_exit_2(smtp_world, probe, key):
    root, ca, _servers, hosts = smtp_world
    env = probe_env(root, "probe-bad", ca.path, hosts)
    path = root / "environments" / f"{env}.yaml"
    data = yaml.safe_load(path.read_text())
    data["probe"].update(probe)
    path.write_text(yaml.safe_dump(data))
    r = run_cli(root, "probe", "--env", env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_a_server_that_never_greets_is_not_called_a_blocked_port(probed):
    _, doc = probed
    (host,) = [h for h in doc["hosts"] if h["domain"] == "silent.test"]
    line = json.dumps(host)
    assert "no greeting" in line, host
    assert "port 25 is often blocked" not in line, host
