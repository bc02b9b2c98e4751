"""Issue 14: audit and lint tell the truth, on real Knot and BIND.

Each case below was seen misreported: two servers that disagree (and the order they are listed
in), two SPF records at the apex, an include whose target costs 11 lookups, TXT strings glued
without spaces, a wildcard CNAME over every DKIM selector, a wildcard TXT at `_mta-sts`, the
no-mail profile's own `*._domainkey` revocation.
"""

from __future__ import annotations

import json

import yaml

from tests.audit_fixtures import ENV, ZONE, server_zones, write_audit_env
from tests.conftest import run_cli
from tests.rfc2136_helpers import SECRET_ENV
from tests.standins import standins_address
from tests.test_bad_input import _edit_env


def audit(project, srv, *args):
    r = run_cli(project, "audit", "--env", ENV, "--format", "json", *args,
                env={SECRET_ENV: srv.key_secret})  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def domain(doc, name="example.com"):
    return next(d for d in doc["domains"] if d["domain"] == name)


def set_env(project, **changes):
    path = project / "environments" / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def risks(d, code=None):
    return [r for r in d["risks"] if code is None or r["code"] == code]


# ---------------------------------------------------------------- every server, in any order

#: the newer copy: serial +1, MX at TTL 300, no DNSKEY (the older one is ZONE itself)
NEWER = (
    ZONE.replace("2026112401", "2026112402")
    .replace("@ 3600 IN MX 1 smtp.google.com.", "@ 300 IN MX 1 smtp.google.com.")
    .replace("@ 3600 IN DNSKEY", "; no DNSKEY here:")
)


def test_two_servers_that_disagree_give_the_same_audit_in_either_order(
    project, knot_factory, bind_factory
):
    knot = knot_factory({**server_zones(project), "example.com": NEWER})
    bind = bind_factory(server_zones(project))  # serial 2026112401, MX TTL 3600, DNSKEY
    write_audit_env(project, knot, standins_address())
    seen = []
    for order in ([knot, bind], [bind, knot]):
        set_env(project, validation={"nameservers": [s.address for s in order]})
        d = domain(audit(project, knot))
        # T_old: the largest TTL any server serves (resolvers may hold BIND's 3600 s MX)
        assert d["t_old"] == 3600
        assert d["prepare_changes"][0]["ttl"] == 3600
        assert d["serials"] == {knot.address: 2026112402, bind.address: 2026112401}
        assert d["server"] == knot.address  # the newest serial is the one shown
        mx = next(r for r in d["records"] if r["type"] == "MX")
        assert mx["ttl"] == 300
        disagree = {(x["name"], x["type"]): x["servers"] for x in d["disagreements"]}
        assert disagree[("example.com.", "MX")][bind.address]["ttl"] == 3600
        assert disagree[("example.com.", "MX")][knot.address]["ttl"] == 300
        assert disagree[("example.com.", "DNSKEY")][knot.address] is None
        found = {(r["code"], r["record"]) for r in risks(d)}
        assert ("SERVERS_DISAGREE", "@ MX") in found and ("SERVERS_DISAGREE", "@ DNSKEY") in found
        assert ("SERIALS_DIFFER", "@ SOA") in found
        assert ("DNSSEC_SIGNED", "@ DNSKEY") in found  # BIND serves DNSKEY, whatever comes first
        lag = risks(d, "SERIALS_DIFFER")[0]["detail"]
        assert f"{bind.address} serves serial 2026112401" in lag
        mx_risk = next(r for r in risks(d, "SERVERS_DISAGREE") if r["record"] == "@ MX")
        assert f"{bind.address} serves TTL 3600" in mx_risk["detail"]
        seen.append((d["t_old"], sorted(found), d["server"], d["serials"]))
    assert seen[0] == seen[1]
    text = run_cli(project, "audit", "--env", ENV, env={SECRET_ENV: knot.key_secret}).stdout
    assert f"Servers: {bind.address} serial 2026112401, {knot.address} serial 2026112402" in text
    assert "[high] SERVERS_DISAGREE @ MX" in text


def test_a_silent_server_beside_answering_ones_is_named(project, knot_factory):
    from tests.servers import free_port

    knot = knot_factory(server_zones(project))
    write_audit_env(project, knot, standins_address())
    dark = f"127.0.0.1:{free_port()}"
    set_env(project, validation={"nameservers": [dark, knot.address]})
    d = domain(audit(project, knot))
    assert d["serials"] == {dark: None, knot.address: 2026112401}
    (r,) = risks(d, "SERVER_UNANSWERED")
    assert dark in r["detail"] and r["severity"] == "medium"
    # a closed port answers ICMP port unreachable: UNREACHABLE, not TIMEOUT
    assert any(p.startswith(f"{dark}: UNREACHABLE") for p in d["problems"]), d["problems"]


# ---------------------------------------------------------------- SPF, counted as receivers do

HOSTS = "".join(f"h{i} 300 IN A 192.0.2.{i}\n" for i in range(1, 12))
BIG = " ".join(f"a:h{i}.example.com" for i in range(1, 12))


def spf_zone(*apex_txt: str) -> str:
    lines = [x for x in ZONE.splitlines() if not x.startswith("@ 300 IN TXT")]
    return (
        "\n".join(lines + [f"@ 300 IN TXT {t}" for t in apex_txt])
        + "\n"
        + HOSTS
        + (f'big 300 IN TXT "v=spf1 {BIG} ~all"\n')
    )


def test_two_spf_records_are_a_permerror_and_both_are_kept_in_view(project, knot_factory):
    zone = spf_zone('"v=spf1 include:_spf.google.com ~all"',
                    '"v=spf1 ip4:198.51.100.7 include:big.example.com ~all"')  # fmt: skip
    knot = knot_factory({**server_zones(project), "example.com": zone})
    write_audit_env(project, knot, standins_address())
    set_env(project, lint={"resolvers": [standins_address(), knot.address]})
    d = domain(audit(project, knot))
    spf = d["spf"]
    assert len(spf["live_records"]) == 2
    assert spf["live_lookups"]["verdict"] == "permerror"
    assert "2 v=spf1 records" in spf["live_lookups"]["error"]
    assert "ip4:198.51.100.7" in spf["dropped_by_plan"]
    assert "include:big.example.com" in spf["dropped_by_plan"]
    (live,) = risks(d, "SPF_LIVE_PERMERROR")
    assert live["severity"] == "high" and "RFC 7208 §4.5" in live["detail"]
    dropped = {r["detail"].split(" authorises ")[1].split(";")[0]
               for r in risks(d, "SPF_MECHANISM_DROPPED")}  # fmt: skip
    assert {"ip4:198.51.100.7", "include:big.example.com"} <= dropped


def test_an_include_of_eleven_lookups_costs_twelve_and_is_named(project, knot_factory):
    zone = spf_zone('"v=spf1 include:big.example.com ~all"')
    knot = knot_factory({**server_zones(project), "example.com": zone})
    write_audit_env(project, knot, standins_address())
    set_env(project, lint={"resolvers": [knot.address]})
    live = domain(audit(project, knot))["spf"]["live_lookups"]
    assert (live["lookups"], live["verdict"]) == (12, "permerror")
    assert live["costliest"] == "include:big.example.com (12)"


def test_glued_txt_strings_are_not_spf(project, knot_factory):
    zone = spf_zone('"v=spf1" "include:_spf.google.com" "~all"')
    knot = knot_factory({**server_zones(project), "example.com": zone})
    write_audit_env(project, knot, standins_address())
    d = domain(audit(project, knot))
    apex = next(r for r in d["records"] if r["name"] == "example.com." and r["type"] == "TXT")
    assert apex["kind"] == "txt"  # joined: "v=spf1include:_spf.google.com~all"
    assert d["spf"]["live"] is None and d["spf"]["live_records"] == []


# ---------------------------------------------------------------- wildcards (RFC 4592)

NO_SELECTORS = "\n".join(
    line for line in ZONE.splitlines()
    if "._domainkey" not in line and not line.startswith(("_mta-sts", "_smtp._tls"))
) + "\n* 300 IN CNAME target.example.net.\n"  # fmt: skip


def test_a_wildcard_cname_is_not_a_record_to_delete(project, knot_factory):
    knot = knot_factory({**server_zones(project), "example.com": NO_SELECTORS})
    write_audit_env(project, knot, standins_address())
    d = domain(audit(project, knot))
    codes = [r["code"] for r in risks(d)]
    assert "CNAME_CONFLICT" not in codes  # no CNAME sits at selector1._domainkey
    assert "UNMANAGED_DKIM" not in codes and d["dkim_selectors"] == []
    covered = {(r["name"], r["type"]) for r in d["wildcard_covered"]}
    assert ("selector1._domainkey.example.com.", "CNAME") in covered
    assert ("s1._domainkey.example.com.", "CNAME") in covered
    assert all(n not in {r["name"] for r in d["records"]} for n, _ in covered)
    (w,) = risks(d, "WILDCARD_COVERED")
    assert w["severity"] == "info"
    # prepare creates selector1._domainkey (and google's key stays): _domainkey becomes an empty
    # non-terminal, and *.example.com stops answering for every other selector under it
    (shadow,) = risks(d, "WILDCARD_SHADOWED")
    assert shadow["record"] == "_domainkey (empty non-terminal)"
    assert "amazonses._domainkey" in shadow["detail"] and "RFC 4592" in shadow["detail"]
    made, lost = shadow["detail"].split(" stops answering for ")
    assert "creates selector1._domainkey, selector2._domainkey, which" in made
    assert "selector1" not in lost and "and 20 more" in lost  # 30 probed, 28 not planned
    # lint says the same about the stage, asking Knot through the lint resolvers
    set_env(project, lint={"resolvers": [knot.address]})
    r = run_cli(project, "lint", "--env", ENV, "--stage", "prepare", "--json",
                env={SECRET_ENV: knot.key_secret})  # fmt: skip
    found = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "WILDCARD_SHADOWED"]
    assert [(f["domain"], f["record"], f["severity"]) for f in found] == [
        ("example.com", "_domainkey (empty non-terminal)", "warning")
    ]
    assert (
        "selector1._domainkey, selector2._domainkey makes _domainkey exist" in found[0]["message"]
    )


def test_wildcard_txt_is_no_mta_sts_or_tlsrpt_record(project, knot_factory):
    zone = NO_SELECTORS.replace("* 300 IN CNAME target.example.net.",
                                '* 300 IN TXT "hello wildcard"')  # fmt: skip
    knot = knot_factory({**server_zones(project), "example.com": zone})
    write_audit_env(project, knot, standins_address())
    d = domain(audit(project, knot))
    assert not [r for r in risks(d) if r["code"].startswith("MTA_STS")]
    assert "_mta-sts.example.com." not in {r["name"] for r in d["records"]}
    assert ("_mta-sts.example.com.", "TXT") in {
        (r["name"], r["type"]) for r in d["wildcard_covered"]
    }
    # validate's lint, asking Knot itself for _mta-sts and _smtp._tls
    set_env(project, lint={"resolvers": [knot.address]})
    r = run_cli(project, "validate", "--env", ENV, "--stage", "prepare", "--json",
                env={SECRET_ENV: knot.key_secret})  # fmt: skip
    codes = {f["code"] for f in json.loads(r.stdout)["policy"] if f["domain"] == "example.com"}
    assert not codes & {"MTA_STS_PRESENT", "TLSRPT_SYNTAX"}, codes
    # the same names holding real records are still reported
    knot.knot_set("example.com", "_mta-sts", 300, "TXT", '"v=STSv1; id=1"')
    knot.knot_set("example.com", "_smtp._tls", 300, "TXT", '"v=TLSRPTv1"')
    r = run_cli(project, "validate", "--env", ENV, "--stage", "prepare", "--json",
                env={SECRET_ENV: knot.key_secret})  # fmt: skip
    codes = {f["code"] for f in json.loads(r.stdout)["policy"] if f["domain"] == "example.com"}
    assert {"MTA_STS_PRESENT", "TLSRPT_SYNTAX"} <= codes, codes


# ---------------------------------------------------------------- no-mail's own revocation


def test_no_mail_revocation_is_expected_at_every_stage(project, cli):
    def park(d):
        d["migration"]["to"] = "no-mail"
        for dom in d["domains"].values():
            dom["to"] = {}

    _edit_env(project, park)
    for stage in ("prepare", "cutover", "finalize"):
        r = cli("lint", "--env", "demo", "--stage", stage, "--json")
        codes = [f["code"] for f in json.loads(r.stdout)["findings"]]
        assert "DKIM_KEY_REVOKED" not in codes, (stage, codes)
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    r = cli("validate", "--env", "demo", "--json")
    assert "DKIM_KEY_REVOKED" not in {f["code"] for f in json.loads(r.stdout)["policy"]}


def test_an_empty_key_where_the_target_signs_stays_an_error():
    from cutover.verify.dkim import check_key

    found = check_key("v=DKIM1; p=", signing=True, revocation_expected=False)
    assert [(p.code, p.severity) for p in found] == [("DKIM_KEY_REVOKED", "error")]
    assert check_key("v=DKIM1; p=", signing=True, revocation_expected=True) == []


# ---------------------------------------------------------------- a resolver behind a stale server


def test_resolver_behind_a_lagging_server_says_its_upstream_is_stale(
    project, knot_factory, bind_factory, unbound_factory
):
    cut = ZONE.replace("2026112401", "2026112402").replace(
        "@ 3600 IN MX 1 smtp.google.com.", "@ 5 IN MX 0 example-com.mail.protection.outlook.com."
    )
    knot = knot_factory({**server_zones(project), "example.com": cut})  # cutover applied
    bind = bind_factory(server_zones(project))  # a secondary that never got it
    unbound = unbound_factory({"example.com": bind.address})  # whose upstream is BIND
    write_audit_env(project, knot, standins_address())
    set_env(project, validation={"nameservers": [knot.address, bind.address],
                                 "resolvers": [unbound.address], "timeout": 5})  # fmt: skip
    r = run_cli(project, "validate", "--env", ENV, "--stage", "cutover", "--json",
                env={SECRET_ENV: knot.key_secret})  # fmt: skip
    findings = json.loads(r.stdout)["findings"]
    stale = next(f for f in findings if f["role"] == "resolver" and f["type"] == "MX"
                 and f["zone"] == "example.com.")  # fmt: skip
    assert stale["status"] == "STALE"
    assert "upstream is stale" in stale["message"] and bind.address in stale["message"]
    assert "s more" not in stale["message"]  # no countdown: the answer will be refreshed
