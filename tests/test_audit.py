"""`invoke audit` against a real Knot serving a realistic Google Workspace zone: every record
named with its TTL, the earliest cutover time (now + the 3600 s MX TTL), the negative-caching
time, and each planted risk, in text, JSON and HTML (the HTML rendered by headless Chromium)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from cutover.journal import parse_time
from tests.audit_fixtures import ENV, EXPECTED_RECORDS, server_zones, write_audit_env
from tests.conftest import REPO, run_cli
from tests.rfc2136_helpers import SECRET_ENV
from tests.standins import standins_address

PLANTED = {
    # code: (severity, record)
    "SPF_UNDECLARED_SENDER": ("high", "@ TXT"),
    "SPF_OVER_BUDGET": ("high", "@ TXT"),
    "CNAME_CONFLICT": ("high", "selector1._domainkey TXT"),
    "MTA_STS_MODE_UNKNOWN": ("medium", "_mta-sts TXT"),
    "DNSSEC_SIGNED": ("medium", "@ DNSKEY"),
    "DMARC_RUA_IN_DOMAIN": ("medium", "_dmarc TXT"),
    "OLD_DKIM_KEEP": ("low", "google._domainkey TXT"),
    "UNMANAGED_DKIM": ("info", "s1._domainkey CNAME"),
}


@pytest.fixture
def knot(knot_factory, project):
    srv = knot_factory(server_zones(project))
    write_audit_env(project, srv, standins_address())
    return srv


def audit(project, srv, *args):
    return run_cli(project, "audit", "--env", ENV, *args, env={SECRET_ENV: srv.key_secret})


def domain(doc, name):
    return next(d for d in doc["domains"] if d["domain"] == name)


def test_json_names_every_record_the_cutover_time_and_each_risk(knot, project):
    before = time.time()
    r = audit(project, knot, "--format", "json")
    after = time.time()
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    d = domain(doc, "example.com")
    found = {(x["name"], x["type"]): x["ttl"] for x in d["records"]}
    for name, rtype, ttl in EXPECTED_RECORDS:
        assert found.get((name, rtype)) == ttl, (name, rtype, found)
    kinds = {x["kind"] for x in d["records"]}
    assert {"mx", "spf", "dmarc", "dkim", "mta-sts", "tls-rpt", "bimi", "dnssec"} <= kinds
    assert ("www.example.com.", "A") not in found  # not mail DNS: never asked
    assert {s["selector"]: s["role"] for s in d["dkim_selectors"]} == {
        "google": "old",
        "selector1": "new",
        "s1": "unmanaged",
        "s2": "unmanaged",
    }
    assert d["soa"]["minimum"] == 300 and d["soa"]["negative_ttl"] == 300
    assert d["soa"]["serial"] == 2026112401
    # T_old: the MX at 3600 s is the largest TTL prepare lowers
    assert d["t_old"] == 3600 == doc["t_old"]
    assert d["prepare_changes"][0] == {
        "name": "example.com.", "type": "MX", "ttl": 3600, "to": 5
    }  # fmt: skip
    earliest = parse_time(d["earliest_cutover"]).timestamp()
    assert before + 3600 - 1 <= earliest <= after + 3600 + 1
    assert doc["earliest_cutover"] == d["earliest_cutover"]
    # the planned SPF union, and what it drops
    spf = d["spf"]
    assert spf["live_lookups"]["lookups"] == 5
    assert spf["planned_lookups"]["lookups"] == 11
    assert "include:sendgrid.net" not in spf["planned"]
    assert spf["dropped_by_plan"] == ["include:sendgrid.net"]
    got = {(x["code"], x["severity"], x["record"]) for x in d["risks"]}
    for code, (severity, record) in PLANTED.items():
        assert (code, severity, record) in got, (code, got)
    sendgrid = next(x for x in d["risks"] if x["code"] == "SPF_UNDECLARED_SENDER")
    assert "SendGrid" in sendgrid["detail"] and "senders.sendgrid" in sendgrid["action"]
    mta = next(x for x in d["risks"] if x["code"] == "MTA_STS_MODE_UNKNOWN")
    assert "https://mta-sts.example.com/.well-known/mta-sts.txt" in mta["detail"]
    # the summary adds up
    s = doc["summary"]
    assert s["domains"] == 2
    assert s["records"] == sum(len(x["records"]) for x in doc["domains"])
    assert (
        s["risks_total"] == sum(s["risks"].values()) == sum(len(x["risks"]) for x in doc["domains"])
    )
    assert "Change: move mail for example.com" in d["change_request"]
    assert "include:sendgrid.net" in d["change_request"]


def test_text_and_markdown_name_the_records_and_risks(knot, project):
    r = audit(project, knot)
    assert r.returncode == 0, r.stderr
    for name, rtype, ttl in EXPECTED_RECORDS:
        assert f"{name} {ttl} {rtype}" in r.stdout, (name, rtype)
    for code, (severity, record) in PLANTED.items():
        assert f"[{severity}] {code} {record}" in r.stdout
    assert "negative caching 300 s" in r.stdout
    assert "T_old 3600 s" in r.stdout
    md = audit(project, knot, "--format", "md")
    assert md.returncode == 0, md.stderr
    assert "## example.com" in md.stdout and "`SPF_UNDECLARED_SENDER`" in md.stdout


def test_mta_sts_policy_in_enforce_mode_from_a_saved_file(knot, project, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "example.com.txt").write_text(
        "version: STSv1\nmode: enforce\nmx: smtp.google.com\nmax_age: 604800\n"
    )
    r = audit(project, knot, "--format", "json", "--mta-sts-dir", str(policies))
    assert r.returncode == 0, r.stderr
    risks = domain(json.loads(r.stdout), "example.com")["risks"]
    enforce = next(x for x in risks if x["code"] == "MTA_STS_ENFORCE")
    assert enforce["severity"] == "high"
    assert "example-com.mail.protection.outlook.com" in enforce["detail"]
    assert "604800" in enforce["action"]
    assert not any(x["code"] == "MTA_STS_MODE_UNKNOWN" for x in risks)


class _StsCells(HTMLParser):
    """The `mta_sts.*` cells of each domain's section in the HTML audit."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}
        self._domain: str | None = None
        self._key: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._domain = a.get("data-domain")
        if tag == "td" and str(a.get("data-key", "")).startswith("mta_sts."):
            self._key = a["data-key"]
        if tag == "br" and self._key:
            self.handle_data("\n")

    def handle_data(self, data):
        if self._key and self._domain:
            row = self.cells.setdefault(self._domain, {})
            row[self._key] = row.get(self._key, "") + data

    def handle_endtag(self, tag):
        if tag == "td":
            self._key = None


def test_html_shows_the_mta_sts_policy_like_the_json(knot, project, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "example.com.txt").write_text(
        "version: STSv1\nmode: enforce\nmx: smtp.google.com\nmx: *.google.com\nmax_age: 604800\n"
    )
    (policies / "example.org.txt").write_text("version: STSv1\nmode: sometimes\n")
    out = tmp_path / "audit.html"
    r = audit(
        project, knot, "--format", "html", "--mta-sts-dir", str(policies), "--output", str(out)
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(
        audit(project, knot, "--format", "json", "--mta-sts-dir", str(policies)).stdout
    )
    sts = domain(doc, "example.com")["mta_sts_policy"]
    dom = _StsCells()
    dom.feed(out.read_text())
    com = dom.cells["example.com"]
    assert com["mta_sts.mode"] == sts["mode"] == "enforce"
    assert com["mta_sts.mx"].split("\n") == sts["mx"] == ["smtp.google.com", "*.google.com"]
    assert com["mta_sts.max_age"] == str(sts["max_age"]) == "604800"
    assert com["mta_sts.source"].endswith("example.com.txt")
    # an invalid policy says why instead, and mode/mx/max_age are not made up
    org = dom.cells["example.org"]
    assert "not a valid policy" in org["mta_sts.error"] and "mta_sts.mode" not in org
    assert org["mta_sts.error"] == domain(doc, "example.org")["mta_sts_policy"]["error"]


def test_bad_format_is_one_line_exit_2(knot, project):
    r = audit(project, knot, "--format", "pdf")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: audit: unknown --format 'pdf' (formats: text, md, json, html)"
    ]
    assert r.stdout == ""


class _Dom(HTMLParser):
    """The summary cells (`data-key`) and the risk rows (`data-code`) of the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict[str, str] = {}
        self.codes: list[str] = []
        self.external: list[str] = []
        self._key: str | None = None
        self._table: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
        if tag == "td" and self._table == "summary" and a.get("data-key"):
            self._key = a["data-key"]
        if tag == "tr" and a.get("data-code"):
            self.codes.append(a["data-code"])
        for attr in ("src", "href"):
            if a.get(attr) and not a[attr].startswith("#"):
                self.external.append(a[attr])
        if tag == "link":
            self.external.append(str(a))

    def handle_data(self, data):
        if self._key is not None:
            self.summary[self._key] = self.summary.get(self._key, "") + data

    def handle_endtag(self, tag):
        if tag == "td":
            self._key = None


def test_html_renders_in_chromium_and_its_summary_matches_the_json(knot, project, tmp_path):
    from tests.servers import require

    chromium = require("chromium")
    out = tmp_path / "audit.html"
    r = audit(project, knot, "--format", "html", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and f"written to {out}" in r.stderr
    doc = json.loads(audit(project, knot, "--format", "json").stdout)
    import subprocess

    profile = tmp_path / "chromium-profile"
    dumped = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", out.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    dom = _Dom()
    dom.feed(dumped.stdout)
    assert dom.external == []  # one self-contained file
    s = doc["summary"]
    assert dom.summary["domains"] == str(s["domains"])
    assert dom.summary["records"] == str(s["records"])
    for severity, n in s["risks"].items():
        assert dom.summary[f"risks.{severity}"] == str(n)
    assert dom.summary["risks_total"] == str(s["risks_total"])
    assert dom.summary["t_old"] == "3600"
    assert set(PLANTED) <= set(dom.codes)
    assert len(dom.codes) == s["risks_total"]
    for name, _rtype, _ttl in EXPECTED_RECORDS:
        assert name in dumped.stdout
    assert abs(parse_time(dom.summary["earliest_cutover"]).timestamp()
               - datetime.now(UTC).timestamp() - 3600) < 120  # fmt: skip


def test_no_authoritative_answer_is_a_high_risk_and_exit_3(knot, project):
    import yaml

    from tests.servers import free_port

    path = project / "environments" / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text())
    data["validation"]["nameservers"] = [f"127.0.0.1:{free_port()}"]  # nothing listens there
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = audit(project, knot, "--format", "json")
    assert r.returncode == 3
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .startswith("error: audit: no authoritative server answered for 2 domain(s)")
    )
    doc = json.loads(r.stdout)
    assert doc["summary"]["unanswered"] == 2
    for d in doc["domains"]:
        assert d["server"] is None and d["records"] == []
        assert [x["code"] for x in d["risks"]] == ["NO_ANSWER"]


def test_selectors_probed_are_the_documented_list_and_the_profiles(knot, project):
    from cutover.audit.selectors import WELL_KNOWN

    doc = json.loads(audit(project, knot, "--format", "json").stdout)
    probed = set(doc["selectors_probed"])
    assert set(WELL_KNOWN) <= probed
    assert {"google", "selector1", "selector2"} <= probed  # both profiles' selectors
    readme = (REPO / "README.md").read_text()
    for sel in ("google", "selector1", "s1", "k1", "mandrill", "protonmail", "amazonses"):
        assert sel in readme
