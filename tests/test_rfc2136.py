"""The rfc2136 provider against real Knot and real BIND: the demo lifecycle through the CLI,
drift refused atomically by the server, TSIG and server failures as one line with exit 3."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest

from cutover.config import load_environment
from cutover.errors import ConfigError, DriftError
from cutover.providers import get_provider
from cutover.stages import build_plans
from tests import servers
from tests.conftest import run_cli
from tests.lifecycle_helpers import fast_demo
from tests.rfc2136_helpers import (
    ENV,
    SECRET_ENV,
    ZONES,
    axfr_state,
    out_of_band_replace,
    query,
    secret_env,
    serial,
    serials,
    server_zones,
    write_env,
)
from tests.terminal import run_on_terminal

KINDS = ("knot", "bind")


@pytest.fixture(params=KINDS)
def server(request, project):
    """A Knot or BIND serving the (fast) demo zones and the stand-ins, and the env file for it."""
    fast_demo(project)
    factory = request.getfixturevalue(f"{request.param}_factory")
    srv = factory(server_zones(project))
    write_env(project, srv)
    return srv


def cli(project, srv, *args, env=None):
    return run_cli(project, *args, env={**secret_env(srv), **(env or {})})


def mx(srv, zone):
    return query(srv, zone + ".", "MX")


def dig_mx(srv, zone) -> list[str]:
    """MX as the server's own client tool sees it: kdig for Knot, dig for BIND."""
    tool = "kdig" if srv.kind == "knot" else "dig"
    out = subprocess.run(
        [servers.require(tool), "@127.0.0.1", "-p", str(srv.port), "+short", zone, "MX"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


def test_demo_lifecycle_and_exact_rollback(server, project):
    original = {z: axfr_state(server, z) for z in ZONES}
    start = serials(server)

    def applied(stage_args, expect_serial_step):
        before = serials(server)
        r = cli(project, server, *stage_args)
        assert r.returncode == 0, r.stderr
        after = serials(server)
        # one UPDATE per zone per stage: the serial rises exactly once
        assert after == {z: before[z] + expect_serial_step for z in ZONES}, (before, after)
        return r

    applied(("prepare", "--env", ENV, "--yes"), 1)
    after_prepare = {z: axfr_state(server, z) for z in ZONES}
    for z in ZONES:
        assert mx(server, z) == (1, ["1 smtp.google.com."])  # TTL lowered only
        ttl, txt = query(server, z + ".", "TXT")
        assert ttl == 1
        assert '"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all"' in txt
        assert '"unrelated-service-token=keep-me-exactly"' in txt  # not ours: kept
        assert query(server, f"www.{z}.", "A") == original[z][(f"www.{z}.", "A")]

    applied(("cutover", "--env", ENV, "--yes", "--wait"), 1)
    for z in ZONES:
        dashed = z.replace(".", "-")
        assert mx(server, z) == (1, [f"0 {dashed}.mail.protection.outlook.com."])
        assert dig_mx(server, z) == [f"0 {dashed}.mail.protection.outlook.com."]
        assert query(server, f"autodiscover.{z}.", "CNAME") == (1, ["autodiscover.outlook.com."])
    r = cli(project, server, "validate", "--env", ENV, "--stage", "cutover")
    assert r.returncode == 0, r.stdout + r.stderr  # the server itself, asked as authoritative
    r = cli(project, server, "validate", "--env", ENV, "--stage", "finalize")
    assert r.returncode == 1, r.stdout + r.stderr  # finalize is not in place yet

    applied(("finalize", "--env", ENV, "--yes"), 1)
    ttl, txt = query(server, "example.com.", "TXT")
    assert ttl == 60 and '"v=spf1 include:spf.protection.outlook.com ~all"' in txt
    assert any("google-site-verification" in v for v in txt)
    assert query(server, "google._domainkey.example.com.", "TXT") is None  # old DKIM gone
    assert query(server, "_dmarc.example.com.", "TXT")[1] == [
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"'
    ]

    applied(("rollback", "--env", ENV, "--yes"), 1)  # undo finalize
    applied(("rollback", "--env", ENV, "--yes"), 1)  # undo cutover
    assert {z: axfr_state(server, z) for z in ZONES} == after_prepare
    applied(("rollback", "--env", ENV, "--yes"), 1)  # undo prepare
    assert {z: axfr_state(server, z) for z in ZONES} == original  # values and TTLs, exactly
    assert serials(server) == {z: start[z] + 6 for z in ZONES}
    assert dig_mx(server, "example.com") == ["1 smtp.google.com."]

    r = cli(project, server, "rollback", "--env", ENV, "--yes")
    assert r.returncode == 0 and "nothing to roll back" in r.stdout

    # the secret never reaches a file the tool writes, nor its output
    secret = server.key_secret
    files = [p for p in (project / ".cutover").rglob("*") if p.is_file()]
    assert files, "the run should have written snapshots and a journal"
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert secret.encode().hex().encode() not in data, path
    assert secret not in (project / "environments" / f"{ENV}.yaml").read_text()


def test_rerun_of_applied_stage_sends_no_update(server, project):
    assert cli(project, server, "prepare", "--env", ENV, "--yes").returncode == 0
    before = serials(server)
    r = cli(project, server, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 0, r.stderr
    assert "nothing to change" in r.stdout
    assert serials(server) == before


def _plan_in_process(project, srv, monkeypatch, stage="prepare"):
    monkeypatch.setenv(SECRET_ENV, srv.key_secret)
    env = load_environment(ENV, project)
    provider = get_provider(env)
    plans = {p.zone: p for p in build_plans(env, provider, stage)}
    return provider, plans


def test_drift_between_plan_and_apply_is_refused_by_the_server(server, project, monkeypatch):
    """The record moves after the plan and after the provider's own pre-check: only the
    UPDATE's prerequisites stand in the way, and the server applies nothing."""
    provider, plans = _plan_in_process(project, server, monkeypatch)
    plan = plans["example.com."]
    before_state = axfr_state(server, "example.com")
    before_serial = serial(server, "example.com")
    # another admin changes the MX values (same TTL: only values differ)
    out_of_band_replace(server, "example.com", "@", 2, "MX", "5 other.example.net.")
    drifted_state = axfr_state(server, "example.com")
    drifted_serial = serial(server, "example.com")
    assert drifted_state != before_state and drifted_serial > before_serial

    response = provider._send_update("example.com.", provider._update_message("example.com.", plan))
    assert response.rcode() == 8  # NXRRSET: a value-dependent prerequisite failed
    assert axfr_state(server, "example.com") == drifted_state  # nothing of the plan applied
    assert serial(server, "example.com") == drifted_serial


def test_drift_refused_through_apply(server, project, monkeypatch):
    provider, plans = _plan_in_process(project, server, monkeypatch)
    out_of_band_replace(server, "example.com", "@", 2, "MX", "5 other.example.net.")
    drifted = axfr_state(server, "example.com")
    with pytest.raises(DriftError) as err:
        provider.apply("example.com.", plans["example.com."])
    assert "example.com. MX changed since the plan was made" in err.value.line()
    assert err.value.exit_code == 1
    assert axfr_state(server, "example.com") == drifted


def test_ttl_only_drift_is_refused_too(server, project, monkeypatch):
    """RFC 2136 prerequisites ignore TTLs; the provider's fresh read before the UPDATE does not."""
    provider, plans = _plan_in_process(project, server, monkeypatch)
    out_of_band_replace(server, "example.com", "_dmarc", 999, "TXT", *_dmarc_values(server))
    drifted = axfr_state(server, "example.com")
    with pytest.raises(DriftError, match="_dmarc.example.com. TXT changed"):
        provider.apply("example.com.", plans["example.com."])
    assert axfr_state(server, "example.com") == drifted


def _dmarc_values(srv) -> list[str]:
    return query(srv, "_dmarc.example.com.", "TXT")[1]


def test_plan_reads_the_live_records(server, project):
    """An out-of-band change made before the run shows up in the plan: reads are live."""
    out_of_band_replace(server, "example.com", "@", 2, "MX", "5 other.example.net.")
    r = cli(project, server, "plan", "--env", ENV)
    assert r.returncode == 0, r.stderr
    assert "other.example.net." in r.stdout


def test_wrong_tsig_secret_is_refused_with_exit_3(server, project):
    before = {z: axfr_state(server, z) for z in ZONES}
    before_serials = serials(server)
    wrong = servers._secret()
    r = run_cli(project, "prepare", "--env", ENV, "--yes", env={SECRET_ENV: wrong})
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert server.address in line and "example.com." in line
    assert "TSIG" in line and "nothing was applied" in line
    assert wrong not in r.stderr + r.stdout and server.key_secret not in r.stderr + r.stdout
    assert "BADSIG" in (project / ".cutover" / ENV / "journal.jsonl").read_text()
    for path in (project / ".cutover").rglob("*"):  # the journal records the failure...
        if path.is_file():  # ...but no secret, right or wrong
            assert wrong.encode() not in path.read_bytes()
            assert server.key_secret.encode() not in path.read_bytes()
    assert {z: axfr_state(server, z) for z in ZONES} == before
    assert serials(server) == before_serials


def test_unknown_tsig_key_name_is_refused_with_exit_3(server, project):
    write_env(project, server, tsig={"name": "no-such-key", "secret_env": SECRET_ENV})
    before_serials = serials(server)
    r = cli(project, server, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert server.address in line and "example.com." in line
    assert serials(server) == before_serials


def test_unsigned_update_is_refused_notauth_or_refused(server, project):
    write_env(project, server, tsig=None)
    before_serials = serials(server)
    r = run_cli(project, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    expected = "NOTAUTH" if server.kind == "knot" else "REFUSED"
    assert expected in line and server.address in line and "example.com." in line
    assert serials(server) == before_serials


def test_missing_secret_env_is_exit_2_and_touches_nothing(server, project):
    before_serials = serials(server)
    r = run_cli(project, "prepare", "--env", ENV, "--yes", env={SECRET_ENV: ""})
    assert r.returncode == 2, r.stderr
    assert f"provider.tsig.secret_env: environment variable {SECRET_ENV} is not set" in r.stderr
    assert serials(server) == before_serials
    assert not (project / ".cutover" / ENV / "journal.jsonl").exists()


def test_zone_not_on_the_server_is_exit_3(knot_factory, project):
    fast_demo(project)
    srv = knot_factory(server_zones(project, zones=("example.com",)))
    write_env(project, srv)
    r = cli(project, srv, "plan", "--env", ENV)
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "example.org." in line and srv.address in line and "not authoritative" in line


def test_server_that_never_answers_times_out_with_exit_3(project):
    """A TCP listener that accepts (kernel backlog) and never replies: a timeout, one line."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]

        class Silent:
            address = f"127.0.0.1:{port}"
            key_name = "test-key"
            key_secret = servers._secret()

        write_env(project, Silent, timeout=1)
        r = cli(project, Silent, "plan", "--env", ENV)
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert f"127.0.0.1:{port}" in line and "example.com." in line and "within 1s" in line


def test_server_down_is_exit_3(project):
    port = servers.free_port()

    class Down:
        address = f"127.0.0.1:{port}"
        key_name = "test-key"
        key_secret = servers._secret()

    write_env(project, Down)
    r = cli(project, Down, "plan", "--env", ENV)
    assert r.returncode == 3, r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "cannot connect" in r.stderr


@pytest.mark.parametrize(
    ("provider", "where", "what"),
    [
        ({"server": "127.0.0.1:99999"}, "provider.server", "port must be 1..65535"),
        ({"tsig": {"name": "k", "secret_env": SECRET_ENV, "secret": "x"}}, "provider.tsig.secret", "unknown key"),
        ({"tsig": {"name": "k", "algorithm": "hmac-foo", "secret_env": SECRET_ENV}}, "provider.tsig.algorithm", "not allowed"),
        ({"tsig": {"name": "k"}}, "provider.tsig.secret_env", "is required"),
        ({"snapshot": "everything"}, "provider.snapshot", "not allowed"),
        ({"timeout": 0}, "provider.timeout", "must be a number"),
        ({"nameservers": ["127.0.0.1:0"]}, "provider.nameservers[0]", "port must be"),
    ],
)  # fmt: skip
def test_bad_provider_options_are_exit_2(project, provider, where, what):
    class Nowhere:
        address = "127.0.0.1:53"
        key_name = "test-key"
        key_secret = servers._secret()

    path = write_env(project, Nowhere, **provider)
    r = cli(project, Nowhere, "plan", "--env", ENV)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert line.startswith(f"error: {path}: {where}: ") and what in line, line
    assert len(line.splitlines()) == 1


def test_secret_not_base64_is_config_error(project, monkeypatch):
    class Nowhere:
        address = "127.0.0.1:53"
        key_name = "test-key"
        key_secret = "!!not base64!!"

    write_env(project, Nowhere)
    monkeypatch.setenv(SECRET_ENV, Nowhere.key_secret)
    with pytest.raises(ConfigError) as err:
        get_provider(load_environment(ENV, project))
    assert "does not hold a base64 TSIG secret" in err.value.line()
    assert Nowhere.key_secret not in err.value.line()


def test_nameservers_default_to_the_primary_and_the_zones_ns(server, project, monkeypatch):
    """Unset: the primary plus every NS of the zone (secondaries lag; they are asked too), NS
    addresses from the primary's in-zone glue; a configured list replaces it."""
    monkeypatch.setenv(SECRET_ENV, server.key_secret)
    write_env(project, server, nameservers=None)
    provider = get_provider(load_environment(ENV, project))
    assert provider.nameservers("example.com") == [server.address, "127.0.0.1:53"]
    out_of_band_replace(
        server, "example.com", "@", 3600, "NS", "ns1.example.com.", "ns.elsewhere.test."
    )
    assert provider.nameservers("example.com") == [
        server.address,
        "ns.elsewhere.test:53",
        "127.0.0.1:53",
    ]  # fmt: skip (NS names in sorted order)
    write_env(project, server, nameservers=["127.0.0.2:53", "[::1]:5300"])
    assert get_provider(load_environment(ENV, project)).nameservers("example.com") == [
        "127.0.0.2:53",
        "[::1]:5300",
    ]


def test_kdig_and_dig_available():
    """The read-back tools the lifecycle test uses are installed (a missing one is a failure)."""
    for tool in ("kdig", "dig"):
        assert shutil.which(tool) or servers.require(tool)


def test_snapshot_zone_keeps_the_whole_zone_by_axfr(server, project):
    write_env(project, server, snapshot="zone")
    whole = {z: axfr_state(server, z) for z in ZONES}
    r = cli(project, server, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 0, r.stderr
    [path] = (project / ".cutover" / ENV / "snapshots").glob("*-prepare-*.json")
    doc = json.loads(path.read_text())
    for z in ZONES:
        body = doc["zones"][z + "."]
        kept = {
            (d["name"], d["type"]): (d["ttl"], sorted(d["values"]))
            for d in body["zone"]
            if d["type"] != "SOA"
        }
        assert kept == whole[z]  # every RRset of the zone as it was before the stage
        assert [d["type"] for d in body["zone"]].count("SOA") == 1
        assert len(body["rrsets"]) < len(body["zone"])  # rollback still restores only these
    assert server.key_secret not in path.read_text()
    # and the snapshot still rolls back exactly
    assert cli(project, server, "rollback", "--env", ENV, "--yes").returncode == 0
    assert {z: axfr_state(server, z) for z in ZONES} == whole


def test_snapshot_names_keeps_no_zone(server, project):
    assert cli(project, server, "prepare", "--env", ENV, "--yes").returncode == 0
    [path] = (project / ".cutover" / ENV / "snapshots").glob("*-prepare-*.json")
    assert all("zone" not in body for body in json.loads(path.read_text())["zones"].values())


def test_refused_zone_transfer_stops_before_any_change(knot_factory, project):
    """snapshot: zone with a key the server does not know: the AXFR fails first, exit 3."""
    fast_demo(project)
    srv = knot_factory(server_zones(project))
    write_env(project, srv, snapshot="zone", tsig={"name": "other-key", "secret_env": SECRET_ENV})
    before = serials(srv)
    r = cli(project, srv, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "zone transfer" in line and srv.address in line and "example.com." in line
    assert serials(srv) == before


def test_drift_between_plan_and_confirm_is_exit_1_nothing_applied(server, project):
    """Through the real program: the plan is shown, another admin changes the MX (knotc on
    Knot, a signed UPDATE on BIND) while the prompt waits, the user says yes: refused."""
    drifted = {}

    def drift():
        out_of_band_replace(server, "example.com", "@", 2, "MX", "5 other.example.net.")
        drifted.update({z: axfr_state(server, z) for z in ZONES}, serials=serials(server))

    code, out = run_on_terminal(
        project, "prepare", "--env", ENV, env=secret_env(server), on_prompt=drift
    )
    assert code == 1, out
    assert "example.com. MX changed since the plan was made; nothing was applied" in out
    assert {z: axfr_state(server, z) for z in ZONES} == {z: drifted[z] for z in ZONES}
    assert serials(server) == drifted["serials"]
