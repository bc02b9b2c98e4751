"""The demo end to end through the real `cutover` program: prepare, cutover, rollback twice."""

import dns.message
import dns.query

from cutover.dnsserver import DNSServer
from tests.lifecycle_helpers import fast_demo, unmanaged, zone_state

ZONES = ("example.com", "example.org")


def served_mx(project, zone):
    with DNSServer([project / "demo" / "zones"]) as srv:
        r = dns.query.udp(dns.message.make_query(zone, "MX"), "127.0.0.1", port=srv.port, timeout=2)
        return sorted(rd.to_text() for rd in r.answer[0])


def test_demo_cutover_and_rollback_restores_exactly(project, cli):
    fast_demo(project)
    original = {z: zone_state(project, z) for z in ZONES}
    keep = {z: unmanaged(original[z], z) for z in ZONES}

    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    after_prepare = {z: zone_state(project, z) for z in ZONES}
    for z in ZONES:
        assert after_prepare[z][(z + ".", "MX")] == (1, ["1 smtp.google.com."])  # TTL lowered only
        spf = [v for v in after_prepare[z][(z + ".", "TXT")][1] if "spf1" in v]
        assert spf == ['"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all"']
        assert unmanaged(after_prepare[z], z) == keep[z]

    r = cli("cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 0, r.stderr
    for z in ZONES:
        dashed = z.replace(".", "-")
        assert served_mx(project, z) == [f"0 {dashed}.mail.protection.outlook.com."]
        state = zone_state(project, z)
        assert state[(f"autodiscover.{z}.", "CNAME")][1] == ["autodiscover.outlook.com."]
        assert unmanaged(state, z) == keep[z]

    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert {z: zone_state(project, z) for z in ZONES} == after_prepare
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert {z: zone_state(project, z) for z in ZONES} == original
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0 and "nothing to roll back" in r.stdout


def test_finalize_then_rollback_of_all_three_stages(project, cli):
    fast_demo(project)
    original = {z: zone_state(project, z) for z in ZONES}
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    assert cli("cutover", "--env", "demo", "--yes", "--wait").returncode == 0
    r = cli("finalize", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    state = zone_state(project, "example.com")
    txt = state[("example.com.", "TXT")]
    assert txt[0] == 60
    assert '"v=spf1 include:spf.protection.outlook.com ~all"' in txt[1]
    assert ("google._domainkey.example.com.", "TXT") not in state  # old DKIM dropped
    assert any("google-site-verification" in v for v in txt[1])  # never removed
    assert state[("_dmarc.example.com.", "TXT")][1] == [
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"'
    ]
    for _ in range(3):
        r = cli("rollback", "--env", "demo", "--yes")
        assert r.returncode == 0, r.stderr
    assert {z: zone_state(project, z) for z in ZONES} == original


def test_render_text_says_what_is_kept_and_what_is_removed(cli):
    r = cli("render", "--env", "demo", "--stage", "prepare")
    assert r.returncode == 0, r.stderr
    assert "@ MX 5 (keep served values)" in r.stdout  # prepare only lowers the MX TTL
    r = cli("render", "--env", "demo", "--stage", "finalize")
    assert "google._domainkey TXT (removed)" in r.stdout
    assert "v=spf1 include:spf.protection.outlook.com ~all" in r.stdout
