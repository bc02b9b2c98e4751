"""The other demo migrations end to end through the real `cutover` program on the zone-file
provider: Microsoft 365 -> Google Workspace (with SendGrid) and Zoho -> Fastmail at an IDN domain
(with Mailgun). Each runs prepare, cutover, finalize, then three rollbacks back to the original
zone byte for byte; and every environment in environments/ parses and renders."""

from __future__ import annotations

import json
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def _state(project: Path, directory: str, zone: str, joined: bool = True) -> dict:
    """(relative name, type) -> (ttl, sorted values), SOA left out; TXT as receivers read it
    (strings joined), or with `joined=False` in presentation form, string split and all."""
    path = project / directory / f"{zone}.zone"
    z = dns.zone.from_file(str(path), origin=zone + ".", relativize=True)
    out = {}
    for name, rds in z.iterate_rdatasets():
        if rds.rdtype == dns.rdatatype.SOA:
            continue
        texts = sorted(
            b"".join(rd.strings).decode()
            if joined and rds.rdtype == dns.rdatatype.TXT
            else rd.to_text()
            for rd in rds
        )
        out[(name.to_text(), dns.rdatatype.to_text(rds.rdtype))] = (rds.ttl, texts)
    return out


def _fast(project: Path, env: str, directory: str) -> None:
    """Old TTLs of 2 s and a cutover TTL of 1 s, so the cutover gate opens in about 2 s."""
    for path in (project / directory).glob("*.zone"):
        path.write_text(path.read_text().replace(" 10 IN ", " 2 IN "))
    env_path = project / "environments" / f"{env}.yaml"
    data = yaml.safe_load(env_path.read_text())
    data["ttl"] = {"cutover": 1, "final": 60}
    env_path.write_text(yaml.safe_dump(data, allow_unicode=True))


def _spf(state: dict) -> list[str]:
    return [v for v in state[("@", "TXT")][1] if v.startswith("v=spf1")]


def _run_ok(cli, *args):
    r = cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def _plan_has_no_findings(cli, env: str) -> None:
    doc = json.loads(_run_ok(cli, "plan", "--env", env, "--json").stdout)
    assert doc["findings"] == [], doc["findings"]


def test_m365_to_google_with_sendgrid(project, cli):
    env, directory, zone = "demo-m365-to-google", "demo/m365-to-google", "example.net"
    _fast(project, env, directory)
    original = _state(project, directory, zone)
    exact = _state(project, directory, zone, joined=False)
    sendgrid = {
        k: v[1] for k, v in original.items() if k[0] in ("em1234", "s1._domainkey", "s2._domainkey")
    }
    assert len(sendgrid) == 3

    _plan_has_no_findings(cli, env)
    _run_ok(cli, "prepare", "--env", env, "--yes")
    s = _state(project, directory, zone)
    assert s[("@", "MX")] == (1, ["0 example-net.mail.protection.outlook.com."])
    assert _spf(s) == ["v=spf1 include:spf.protection.outlook.com include:_spf.google.com ~all"]
    assert s[("google._domainkey", "TXT")][1][0].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    assert "google-site-verification=demo-net-Xy12AbCdEfGhIjKl" in s[("@", "TXT")][1]
    assert "MS=ms33333333" in s[("@", "TXT")][1]
    assert s[("selector1._domainkey", "CNAME")][1] == original[("selector1._domainkey", "CNAME")][1]

    _run_ok(cli, "cutover", "--env", env, "--yes", "--wait")
    s = _state(project, directory, zone)
    assert s[("@", "MX")][1] == ["1 smtp.google.com."]
    assert ("autodiscover", "CNAME") not in s  # Microsoft's client record goes with the MX

    _run_ok(cli, "finalize", "--env", env, "--yes")
    s = _state(project, directory, zone)
    assert _spf(s) == ["v=spf1 include:_spf.google.com ~all"]
    assert "MS=ms33333333" not in s[("@", "TXT")][1]
    assert "unrelated-service-token=keep-me-exactly" in s[("@", "TXT")][1]
    assert ("selector1._domainkey", "CNAME") not in s
    assert ("selector2._domainkey", "CNAME") not in s
    assert {k: s[k][1] for k in sendgrid} == sendgrid  # the sender kept through every stage
    assert s[("_dmarc", "TXT")][1] == ["v=DMARC1; p=quarantine; rua=mailto:dmarc@example.net"]

    for _ in range(3):
        _run_ok(cli, "rollback", "--env", env, "--yes")
    assert _state(project, directory, zone, joined=False) == exact


def test_zoho_to_fastmail_at_an_idn_domain_with_mailgun(project, cli):
    env, directory, zone = "demo-zoho-to-fastmail", "demo/zoho-to-fastmail", "xn--bcher-kva.example"
    _fast(project, env, directory)
    original = _state(project, directory, zone)
    exact = _state(project, directory, zone, joined=False)
    mailgun = {k: v[1] for k, v in original.items() if k[0].endswith("mg")}
    assert len(mailgun) == 4

    _plan_has_no_findings(cli, env)
    _run_ok(cli, "prepare", "--env", env, "--yes")
    s = _state(project, directory, zone)
    assert s[("@", "MX")] == (1, ["10 mx.zoho.eu.", "20 mx2.zoho.eu.", "50 mx3.zoho.eu."])
    assert _spf(s) == ["v=spf1 include:zohomail.eu include:spf.messagingengine.com ~all"]
    for n in (1, 2, 3):  # dots, not dashes
        assert s[(f"fm{n}._domainkey", "CNAME")][1] == [f"fm{n}.{zone}.dkim.fmhosted.com."]

    _run_ok(cli, "cutover", "--env", env, "--yes", "--wait")
    s = _state(project, directory, zone)
    assert s[("@", "MX")][1] == [
        "10 in1-smtp.messagingengine.com.",
        "20 in2-smtp.messagingengine.com.",
    ]

    _run_ok(cli, "finalize", "--env", env, "--yes")
    s = _state(project, directory, zone)
    assert _spf(s) == ["v=spf1 include:spf.messagingengine.com ~all"]
    assert not any(v.startswith("zoho-verification=") for v in s[("@", "TXT")][1])
    assert ("zmail._domainkey", "TXT") not in s
    assert {k: s[k][1] for k in mailgun} == mailgun

    for _ in range(3):
        _run_ok(cli, "rollback", "--env", env, "--yes")
    assert _state(project, directory, zone, joined=False) == exact


ENVIRONMENTS = sorted(p.stem for p in (REPO / "environments").glob("*.yaml"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_parses_and_renders(project, cli, env):
    r = _run_ok(cli, "render", "--env", env, "--json")
    doc = json.loads(r.stdout)
    assert set(doc["stages"]) == {"prepare", "cutover", "finalize"}
    for stage in doc["stages"].values():
        for rows in stage.values():
            assert any(w["type"] == "MX" and w["name"] == "@" for w in rows)


def test_examples_cover_every_provider_type():
    types = {
        yaml.safe_load((REPO / "environments" / f"{e}.yaml").read_text())["provider"]["type"]
        for e in ENVIRONMENTS
    }
    assert types == {"zonefile", "route53", "cloudflare", "rfc2136", "octodns"}
