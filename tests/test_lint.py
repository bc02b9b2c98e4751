"""Email policy lint against a real DNS server on loopback (the embedded server holding stand-ins
for the include targets, a three-lookup chain and names that do not exist), never the internet."""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from cutover.dnsserver import DNSServer
from cutover.records import RRset
from cutover.verify.dkim import check_key
from cutover.verify.dmarc import check_dmarc
from cutover.verify.lookup import Lookup
from cutover.verify.mx import check_mx
from tests.conftest import REPO
from tests.lifecycle_helpers import journal, zone_state

FIXTURES = REPO / "tests" / "fixtures" / "lint"


@pytest.fixture
def lint_dns(project: Path):
    """The resolver lint asks: demo zones, demo stand-ins and the lint fixtures."""
    with DNSServer([project / "demo" / "zones", project / "demo" / "standins", FIXTURES]) as srv:
        yield srv


def env_with(project: Path, name: str, resolver: str, **changes) -> str:
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    data["lint"] = {"resolvers": [resolver]}
    for key, value in changes.items():
        data[key] = value
    (project / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return name


def spki(key) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def test_demo_lints_clean_at_every_stage(cli):
    for stage in ("prepare", "cutover", "finalize"):
        r = cli("lint", "--env", "demo", "--stage", stage, "--json", "--strict")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["schema"] == "mailcutover.lint/1" and doc["ok"] and doc["findings"] == []


def test_union_over_ten_lookups_refuses_prepare_and_applies_nothing(project, cli, lint_dns):
    # Google (4) + Microsoft 365 (1) + SendGrid (1) + Mailgun (2) + a three-step chain = 11
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    senders = {"sendgrid": {"em_label": "em1", "user_host": "u1234.wl123.sendgrid.net",
                            "apex_include": True}}  # fmt: skip
    domains = data["domains"]
    for d in domains.values():
        d["senders"] = senders
    env = env_with(
        project,
        "eleven",
        lint_dns.address,
        domains=domains,
        migration={
            **data["migration"],
            "keep_spf": ["include:mailgun.org", "include:a.chain.example"],
        },
    )
    before = {z: zone_state(project, z) for z in ("example.com", "example.org")}

    r = cli("lint", "--env", env, "--json")
    assert r.returncode == 1
    codes = {(f["domain"], f["code"]) for f in json.loads(r.stdout)["findings"]}
    assert ("example.com", "SPF_TOO_MANY_LOOKUPS") in codes

    r = cli("prepare", "--env", env, "--yes")
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "SPF_TOO_MANY_LOOKUPS" in line and "11 DNS lookups" in line
    assert "costliest: include:_spf.google.com (4)" in line
    assert {z: zone_state(project, z) for z in before} == before
    assert journal(project, env) == []
    assert (
        not list((project / ".cutover" / env / "snapshots").glob("*"))
        if (project / ".cutover" / env / "snapshots").exists()
        else True
    )

    # ten lookups is within the budget: the same union without the chain's last step passes SPF
    env = env_with(project, "ten", lint_dns.address, domains=domains,
                   migration={**data["migration"], "keep_spf": ["include:mailgun.org", "include:b.chain.example"]})  # fmt: skip
    r = cli("lint", "--env", env, "--json")
    codes = {f["code"] for f in json.loads(r.stdout)["findings"]}
    assert not any(c.startswith("SPF_") for c in codes), codes


def test_void_lookups_missing_include_and_lost_union_member(project, cli, lint_dns):
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    voids = [f"a:nx{i}.chain.example" for i in range(3)]
    env = env_with(project, "void", lint_dns.address,
                   migration={**data["migration"], "keep_spf": voids})  # fmt: skip
    r = cli("lint", "--env", env, "--json")
    assert r.returncode == 1
    assert "SPF_TOO_MANY_VOID_LOOKUPS" in {f["code"] for f in json.loads(r.stdout)["findings"]}

    env = env_with(project, "noinclude", lint_dns.address,
                   migration={**data["migration"], "keep_spf": ["include:gone.chain.example"]})  # fmt: skip
    r = cli("lint", "--env", env, "--json")
    found = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "SPF_INCLUDE_NOT_FOUND"]
    assert found and "gone.chain.example" in found[0]["message"]
    assert lint_dns.address in found[0]["message"]  # names the resolver it asked


def test_includes_are_counted_inside_and_through_macros(project, cli, lint_dns):
    """Issue 14: an include whose target costs 11 lookups costs 12, and the chain is named; an
    include through %{d} is expanded and counted (checkdmarc counted it as 2 and passed it)."""
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    env = env_with(project, "big", lint_dns.address,
                   migration={**data["migration"], "keep_spf": ["include:big.chain.example"]})  # fmt: skip
    r = cli("lint", "--env", env, "--json")
    found = {f["code"]: f for f in json.loads(r.stdout)["findings"] if f["domain"] == "example.com"}
    message = found["SPF_TOO_MANY_LOOKUPS"]["message"]
    assert message.startswith("17 DNS lookups")  # google 4 + outlook 1 + 12
    assert message.endswith("costliest: include:big.chain.example (12)")
    env = env_with(project, "pct", lint_dns.address,
                   migration={**data["migration"], "keep_spf": ["include:pct.chain.example"]})  # fmt: skip
    r = cli("lint", "--env", env, "--json")
    assert r.returncode == 1
    found = {f["code"]: f for f in json.loads(r.stdout)["findings"] if f["domain"] == "example.com"}
    assert found["SPF_TOO_MANY_LOOKUPS"]["message"].endswith(
        "costliest: include:pct.chain.example (12) > include:_spf.%{d} [_spf.pct.chain.example] (11)"
    )


def test_spf_syntax_and_uncounted_macro_includes(lookup):
    from cutover.verify.spf import check_spf

    def codes(text: str) -> list[tuple[str, str]]:
        txt = RRset("example.org.", "TXT", 300, (f'"{text}"',))
        found = check_spf("example.org", txt, [], lookup, zone="example.org.")
        return [(f.code, f.severity) for f in found]

    assert codes("v=spf1 include:%{i}._spf.chain.example -all") == [
        ("SPF_MACRO_UNCOUNTED", "warning")
    ]
    assert codes("v=spf1 exists:%{i}._spf.chain.example -all") == []  # one lookup, counted
    assert codes("v=spf1 ip4:192.0.2.0/ -all") == [("SPF_SYNTAX", "error")]
    assert codes("v=spf1 ip4:192.0.2.0/33 -all") == [("SPF_SYNTAX", "error")]
    assert codes("v=spf1 foo:bar -all") == [("SPF_SYNTAX", "error")]
    assert codes("v=spf1 x-note=%{z} -all") == [("SPF_SYNTAX", "error")]
    assert codes("v=spf1 redirect=a.chain.example redirect=b.chain.example") == [
        ("SPF_SYNTAX", "error")
    ]
    assert codes("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all") == []


def test_unreachable_lint_resolver_exits_3(project, cli):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        env = env_with(project, "dark", f"127.0.0.1:{silent.getsockname()[1]}")
        r = cli("lint", "--env", env)
    assert r.returncode == 3, r.stderr
    assert "no resolver answered" in r.stderr


@pytest.fixture
def lookup(lint_dns) -> Lookup:
    return Lookup([lint_dns.address])


def test_dkim_key_checks_each_have_their_own_code():
    weak = rsa.RSAPublicNumbers(65537, (1 << 511) | secrets.randbits(510) << 1 | 1).public_key()
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    ed = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()

    def codes(text: str, signing: bool = True) -> list[str]:
        return [p.code for p in check_key(text, signing=signing)]

    assert codes(f"v=DKIM1; k=rsa; p={spki(weak)}") == ["DKIM_KEY_TOO_SHORT"]
    assert codes(f"v=DKIM1; k=rsa; p={spki(good)}") == []
    assert codes("v=DKIM1; k=rsa; p=MIIBIjANBgkq!!notbase64") == ["DKIM_KEY_INVALID"]
    assert codes(f"v=DKIM1; k=rsa; p={base64.b64encode(b'not a key').decode()}") == [
        "DKIM_KEY_INVALID"
    ]
    assert codes(f"v=DKIM1; k=ed25519; p={base64.b64encode(ed).decode()}") == []
    assert codes("v=DKIM1; k=rsa; p=") == ["DKIM_KEY_REVOKED"]
    assert [p.severity for p in check_key("v=DKIM1; p=", signing=False)] == ["warning"]
    assert codes(f"k=rsa; v=DKIM1; p={spki(good)}") == ["DKIM_SYNTAX"]
    assert codes(f"v=DKIM1; t=y; p={spki(good)}") == ["DKIM_TESTING"]
    assert codes(f"v=DKIM1; k=dsa; p={spki(good)}") == ["DKIM_KEY_TYPE"]


def test_dmarc_typo_is_its_own_finding(lookup):
    typo = RRset("_dmarc.example.org.", "TXT", 300, ("v=DMARC1; p=rejected",))
    found = check_dmarc("example.org", typo, lookup, zone="example.org.", stage="finalize")
    assert [(f.code, f.severity) for f in found] == [("DMARC_INVALID_TAG_VALUE", "error")]
    other = RRset("_dmarc.example.org.", "TXT", 300, ("v=DMARC10; p=reject",))  # no version tag
    found = check_dmarc("example.org", other, lookup, zone="example.org.", stage="finalize")
    assert [f.code for f in found] == ["DMARC_MISSING"]
    ok = RRset("_dmarc.example.org.", "TXT", 300, ("v=DMARC1; p=reject; rua=mailto:d@example.org",))
    assert check_dmarc("example.org", ok, lookup, zone="example.org.", stage="finalize") == []
    unauthorised = RRset(
        "_dmarc.example.org.", "TXT", 300, ("v=DMARC1; p=reject; rua=mailto:d@sendgrid.net",)
    )
    found = check_dmarc("example.org", unauthorised, lookup, zone="example.org.", stage="finalize")
    assert "DMARC_REPORT_NOT_AUTHORIZED" in [f.code for f in found]


def test_mx_at_an_ip_and_at_a_cname(lookup):
    def codes(*values: str, stage="cutover") -> list[str]:
        mx = RRset("example.com.", "MX", 300, values)
        return [f.code for f in check_mx("example.com", mx, lookup, stage=stage, profile_mx=[])]

    assert codes("10 192.0.2.25") == ["MX_IP_TARGET"]
    assert codes("10 mxalias.chain.example.") == ["MX_CNAME_TARGET"]
    assert codes("1 smtp.google.com.") == []
    assert codes("0 .", "10 smtp.google.com.") == ["MX_NULL_MIXED"]
    assert codes("10 nothere.chain.example.") == ["MX_UNRESOLVABLE"]


def test_mx_checks_read_the_prefetched_answers_alike(lint_dns):
    """The prefetch keeps answers as read from the wire (`fastwire.Reply`): the CNAME at an MX
    host comes from its A answer, NXDOMAIN is no address, and no check asks again."""
    lookup = Lookup([lint_dns.address])
    hosts = ["mxalias.chain.example.", "smtp.google.com.", "nothere.chain.example."]
    lookup.prefetch((h, t) for h in hosts for t in ("A", "AAAA"))  # as policy.questions asks

    def codes(*values: str) -> list[str]:
        mx = RRset("example.com.", "MX", 300, values)
        return [f.code for f in check_mx("example.com", mx, lookup, stage="cutover", profile_mx=[])]

    assert codes("10 mxalias.chain.example.") == ["MX_CNAME_TARGET"]
    assert codes("1 smtp.google.com.") == []
    assert codes("10 nothere.chain.example.") == ["MX_UNRESOLVABLE"]
    assert lookup.misses == 0 and lookup.prefetched == 6


def test_every_finding_code_is_documented():
    from cutover.verify.findings import CODES

    doc = (REPO / "docs" / "lint.md").read_text()
    assert [c for c in CODES if f"`{c}`" not in doc] == []
    produced = set()
    for path in [*(REPO / "cutover" / "verify").glob("*.py"), REPO / "cutover" / "spfeval.py"]:
        produced |= set(
            re.findall(r'"((?:SPF|DMARC|DKIM|MX|MTA_STS|TLSRPT)_[A-Z_]+)"', path.read_text())
        )
    assert produced - set(CODES) == set()  # no code is emitted without being listed
