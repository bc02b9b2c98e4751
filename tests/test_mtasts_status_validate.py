"""`status` and `validate` compare the `_mta-sts` id the zone serves with the policy file at the
publish target (the directory the test HTTPS server serves; nothing is fetched from outside the
machine), and `status` shows the probe the cutover journaled. Through the `cutover` program."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from cutover.mtasts.policy import policy_id
from tests.lifecycle_helpers import fast_demo, runs
from tests.test_mtasts_lifecycle import NEW_MX, read, sts  # noqa: F401  (the fixture)


def _status(cli) -> dict:
    r = cli("status", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _drifted(policy) -> str:
    """Someone edits the published policy by hand and forgets the id."""
    edited = read(policy).replace("max_age: 604800", "max_age: 86400")
    policy.write_bytes(edited.encode())
    return edited


def test_status_shows_the_published_policy_and_whether_the_id_is_its(project, cli, sts):  # noqa: F811
    _srv, policy = sts
    before = _status(cli)["mta_sts"]
    assert set(before) == {"example.com"}  # example.org is not in mta_sts.domains
    com = before["example.com"]
    assert (com["mode"], com["mx"], com["max_age"]) == (
        "enforce", ["smtp.google.com", "*.aspmx.l.google.com"], 604800
    )  # fmt: skip
    assert com["served_id"] == "20240101" and com["original"] is True
    assert com["id_matches"] is None  # the domain's own id: not ours to judge

    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    com = _status(cli)["mta_sts"]["example.com"]
    assert com["mode"] == "testing" and NEW_MX in com["mx"]
    assert com["served_id"] == com["id"] == policy_id(read(policy))
    assert com["id_matches"] is True and com["drift"] is None
    text = cli("status", "--env", "demo").stdout
    assert "MTA-STS example.com: mode testing" in text and "the published file's" in text

    edited = _drifted(policy)
    com = _status(cli)["mta_sts"]["example.com"]
    assert com["id_matches"] is False and com["max_age"] == 86400
    assert com["id"] == policy_id(edited) != com["served_id"]
    assert f"serves id={com['served_id']}" in com["drift"]
    text = cli("status", "--env", "demo")
    assert text.returncode == 0 and "_mta-sts id drift: serves id=" in text.stdout


def test_validate_refuses_an_id_that_is_not_the_published_files(project, cli, sts, tmp_path):  # noqa: F811
    _srv, policy = sts
    r = cli("validate", "--env", "demo", "--json")  # before prepare: the domain's own id
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert not [f for f in doc["policy"] if f["code"] == "MTA_STS_ID_DRIFT"]
    assert any("MTA-STS id 20240101 is the domain's own" in n for n in doc["notes"])

    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    r = cli("validate", "--env", "demo", "--json")
    assert r.returncode == 0, r.stderr
    assert not [f for f in json.loads(r.stdout)["policy"] if f["code"] == "MTA_STS_ID_DRIFT"]

    _drifted(policy)
    junit = tmp_path / "v.xml"
    r = cli("validate", "--env", "demo", "--json", "--junit", str(junit))
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    drift = [f for f in doc["policy"] if f["code"] == "MTA_STS_ID_DRIFT"]
    assert len(drift) == 1 and drift[0]["severity"] == "error"
    assert drift[0]["domain"] == "example.com" and drift[0]["record"] == "_mta-sts TXT"
    assert "serves id=" in drift[0]["message"] and str(policy) in drift[0]["message"]
    assert "MTA_STS_ID_DRIFT" in r.stderr.strip().splitlines()[-1]
    suite = ET.parse(junit).getroot()
    case = suite.find(
        "testcase[@classname='lint.example.com'][@name='MTA_STS_ID_DRIFT _mta-sts TXT']"
    )
    assert case is not None and case.find("failure").get("type") == "MTA_STS_ID_DRIFT"
    text = cli("validate", "--env", "demo")
    assert text.returncode == 1 and "MTA_STS_ID_DRIFT example.com" in text.stdout

    policy.unlink()  # the id is announced, the file is gone
    r = cli("validate", "--env", "demo", "--json")
    assert r.returncode == 1
    drift = [f for f in json.loads(r.stdout)["policy"] if f["code"] == "MTA_STS_ID_DRIFT"]
    assert "no policy file is published" in drift[0]["message"]


def test_status_shows_the_probe_the_cutover_journaled(project, cli):
    fast_demo(project)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    assert _status(cli)["probe"] is None  # nothing probed yet
    r = cli("cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 0, r.stderr
    doc = _status(cli)
    probe = doc["probe"]
    assert probe["stage"] == "cutover" and probe["ok"] is True and probe["require"] is False
    assert probe["run"] == [r for r in runs(project) if r["stage"] == "cutover"][-1]["run"]
    assert {h["host"]: h["finding"] for h in probe["hosts"]} == {
        "example-com.mail.protection.outlook.com": "ACCEPTS",
        "example-org.mail.protection.outlook.com": "ACCEPTS",
    }
    assert doc["mta_sts"] == {}  # the demo publishes no MTA-STS
    text = cli("status", "--env", "demo").stdout
    assert "probe at cutover" in text and "every new MX accepts" in text
    assert "example-com.mail.protection.outlook.com" in text
    assert cli("rollback", "--env", "demo", "--yes").returncode == 0
    assert _status(cli)["probe"] is None  # the cutover left the stack, and its probe with it
