# ruff: noqa: F811  (pytest fixtures imported from tests/cloudflare_fixtures.py)
"""The Cloudflare provider end to end: the real `cutover` program, the real SDK, the emulator.

Every test runs the CLI in a subprocess with only CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL
pointing it at tests/cloudflare_emulator.py, and asserts on the emulator's records and on the
requests it received (how many batches, no single-record writes).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.cloudflare_emulator import CloudflareEmulator
from tests.cloudflare_fixtures import (  # noqa: F401  (fixtures)
    TOKEN,
    ZONES,
    cf_env,
    emulator,
    environment,
    ids,
    view,
    write_env,
)
from tests.conftest import run_cli
from tests.lifecycle_helpers import runs

BATCH = "/dns_records/batch"


def cli(project, cf_env, *args, **kw):
    return run_cli(project, *args, env=cf_env, **kw)


def single_record_writes(emu: CloudflareEmulator) -> list[tuple[str, str]]:
    return [
        (m, p)
        for m, p in emu.requests
        if m in ("POST", "PUT", "PATCH", "DELETE") and not p.endswith(BATCH)
    ]


def unmanaged_ids(emu: CloudflareEmulator, zone: str) -> dict:
    """Records no profile renders, or apex TXT values we do not own: their ids must never change."""
    keep = {}
    for key, rid in ids(emu.records(zone)).items():
        name, rtype, content = key
        if rtype == "A" or "google-site-verification" in content or "unrelated" in content:
            keep[key] = rid
    return keep


def everything(emu: CloudflareEmulator) -> dict:
    return {z: view(emu.records(z)) for z in ZONES}


def test_lifecycle_three_zones_one_batch_each_and_exact_rollback(project, emulator, cf_env):
    write_env(project, environment())
    original = everything(emulator)
    keep = {z: unmanaged_ids(emulator, z) for z in ZONES}
    outputs = []

    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert emulator.count("POST", BATCH) == 3
    after_prepare = everything(emulator)
    for z in ZONES:
        state = after_prepare[z]
        assert state[(z, "MX")] == [("smtp.google.com", 1, 60, False)]  # TTL lowered only
        spf = [c for c, *_ in state[(z, "TXT")] if "spf1" in c]
        assert spf == ['"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all"']
        assert all(ttl == 60 and not proxied for _, _, ttl, proxied in state[(z, "TXT")])
        assert state[(f"selector1._domainkey.{z}", "CNAME")][0][2:] == (60, False)
        assert state[(f"www.{z}", "A")] == [("192.0.2.10", None, 1, True)]  # untouched
        assert unmanaged_ids(emulator, z) == keep[z]

    r = cli(project, cf_env, "cutover", "--env", "cf", "--yes", "--force")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert emulator.count("POST", BATCH) == 6  # one batch per zone, never record by record
    assert single_record_writes(emulator) == []
    for z in ZONES:
        state = view(emulator.records(z))
        dashed = z.replace(".", "-")
        assert state[(z, "MX")] == [(f"{dashed}.mail.protection.outlook.com", 0, 60, False)]
        assert state[(f"autodiscover.{z}", "CNAME")] == [("autodiscover.outlook.com", None, 60, False)]  # fmt: skip
        assert unmanaged_ids(emulator, z) == keep[z]
    assert runs(project, "cf")[-1]["forced"] is True  # past the TTL gate, on the record

    r = cli(project, cf_env, "rollback", "--env", "cf", "--yes")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert everything(emulator) == after_prepare
    r = cli(project, cf_env, "rollback", "--env", "cf", "--yes")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert everything(emulator) == original  # content, priority, TTL, proxied
    for z in ZONES:
        assert unmanaged_ids(emulator, z) == keep[z]
    assert single_record_writes(emulator) == []
    assert set(emulator.auth_headers) == {f"Bearer {TOKEN}"}

    # the token never reaches a file (snapshots, journal, locks) or the output
    for path in project.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    for r in outputs:
        assert TOKEN not in r.stdout + r.stderr


def test_finalize_then_three_rollbacks_restore_everything(project, emulator, cf_env):
    write_env(project, environment())
    original = everything(emulator)
    assert cli(project, cf_env, "prepare", "--env", "cf", "--yes").returncode == 0
    assert cli(project, cf_env, "cutover", "--env", "cf", "--yes", "--force").returncode == 0
    r = cli(project, cf_env, "finalize", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    state = view(emulator.records("example.com"))
    txt = state[("example.com", "TXT")]
    assert {ttl for _, _, ttl, _ in txt} == {3600}
    assert ('"v=spf1 include:spf.protection.outlook.com ~all"', None, 3600, False) in txt
    assert ("google._domainkey.example.com", "TXT") not in state
    assert any("google-site-verification" in c for c, *_ in txt)
    assert state[("_dmarc.example.com", "TXT")][0][0] == (
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"'
    )
    for _ in range(3):
        r = cli(project, cf_env, "rollback", "--env", "cf", "--yes")
        assert r.returncode == 0, r.stderr
    assert everything(emulator) == original
    assert single_record_writes(emulator) == []


def test_drift_between_plan_and_apply_is_refused(project, emulator, cf_env):
    """Someone edits the MX in the dashboard while the plan is on screen: nothing is applied."""
    write_env(project, environment())
    # how many record reads planning takes; the next one is apply's drift re-read
    assert cli(project, cf_env, "plan", "--env", "cf").returncode == 0
    reads = emulator.count("GET", "/dns_records")
    emulator.requests.clear()
    mx = next(r for r in emulator.records("example.com") if r["type"] == "MX")

    def edit_in_dashboard():
        emulator.zone("example.com").records[mx["id"]]["content"] = "mx.elsewhere.example"

    emulator.before_request("GET", "/dns_records", reads + 1, edit_in_dashboard)
    before = everything(emulator)
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 1, r.stderr
    assert "example.com" in r.stderr and "MX changed since the plan was made" in r.stderr
    assert emulator.count("POST", BATCH) == 0
    after = everything(emulator)
    assert after["example.com"][("example.com", "MX")] == [("mx.elsewhere.example", 1, 3600, False)]
    after["example.com"][("example.com", "MX")] = before["example.com"][("example.com", "MX")]
    assert after == before  # nothing else moved


def test_5xx_after_the_batch_was_applied_is_read_back_not_resent(project, emulator, cf_env):
    write_env(project, environment())
    emulator.inject("POST", BATCH, "5xx_after", status=502)
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    assert emulator.count("POST", BATCH) == 3  # the SDK's own retry would have made it 4
    for z in ZONES:
        spf = [c for c, *_ in view(emulator.records(z))[(z, "TXT")] if "spf1" in c]
        assert len(spf) == 1
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0 and "nothing to change" in r.stdout


def test_5xx_before_applying_fails_cleanly_and_a_rerun_finishes(project, emulator, cf_env):
    write_env(project, environment())
    original = everything(emulator)
    emulator.inject("POST", BATCH, "5xx_before", status=500)
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 3, r.stderr
    assert "example.com" in r.stderr and "nothing was applied" in r.stderr
    assert everything(emulator) == original
    assert emulator.count("POST", BATCH) == 1
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    assert emulator.count("POST", BATCH) == 4


def test_batch_timeout_is_read_back(project, emulator, cf_env):
    write_env(project, environment(provider={"type": "cloudflare", "timeout": 1}))
    emulator.inject("POST", BATCH, "delay", delay=2.0)  # applied after the client gave up
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    time.sleep(1.2)  # let the delayed request finish in the emulator
    assert emulator.count("POST", BATCH) == 3
    for z in ZONES:
        assert view(emulator.records(z))[(z, "MX")] == [("smtp.google.com", 1, 60, False)]


def test_429_retry_after_is_honoured_then_succeeds(project, emulator, cf_env):
    write_env(project, environment())
    emulator.inject("POST", BATCH, "429", retry_after=1)
    emulator.inject("GET", "/dns_records", "429", retry_after=1)
    emulator.inject("GET", "/dns_records", "5xx_before", status=503)  # reads are retried
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    batches = [i for i, (m, p) in enumerate(emulator.requests) if m == "POST" and p.endswith(BATCH)]
    assert len(batches) == 4  # the refused one, then one per zone
    waited = emulator.stamps[batches[1]] - emulator.stamps[batches[0]]
    assert waited >= 1.0, waited
    for z in ZONES:
        assert view(emulator.records(z))[(z, "MX")] == [("smtp.google.com", 1, 60, False)]


def test_http_200_with_success_false_is_an_error(project, emulator, cf_env):
    write_env(project, environment())
    original = everything(emulator)
    emulator.inject("POST", BATCH, "false")
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 3, r.stderr
    assert "success=false" in r.stderr and "injected failure" in r.stderr
    assert everything(emulator) == original
    # on a read it must not look like an empty name (which would plan creating everything)
    emulator.inject("GET", "/dns_records", "false")
    r = cli(project, cf_env, "plan", "--env", "cf")
    assert r.returncode == 3 and "success=false" in r.stderr


def test_zone_not_found_is_a_config_error_naming_it(project, emulator, cf_env):
    write_env(project, environment(zones=("example.com", "missing.example")))
    r = cli(project, cf_env, "plan", "--env", "cf")
    assert r.returncode == 2, r.stderr
    assert "missing.example" in r.stderr and "not found" in r.stderr


def test_zone_id_from_the_environment_skips_the_lookup(project, emulator, cf_env):
    data = environment(zones=("example.com",))
    data["domains"]["example.com"]["zone_id"] = emulator.zone("example.com").id
    write_env(project, data)
    r = cli(project, cf_env, "plan", "--env", "cf")
    assert r.returncode == 0, r.stderr
    assert emulator.count("GET", "/zones") == 0


@pytest.mark.parametrize("key", ["cutover", "final"])
def test_ttl_below_cloudflare_minimum_is_refused_at_plan_time(project, emulator, cf_env, key):
    ttl = {"cutover": 60, "final": 3600, key: 30}
    write_env(project, environment(ttl=ttl))
    r = cli(project, cf_env, "plan", "--env", "cf")
    assert r.returncode == 2, r.stderr
    assert f"ttl.{key}" in r.stderr and "60" in r.stderr
    assert emulator.requests == []


def test_ttl_1_is_cloudflare_automatic_and_allowed(project, emulator, cf_env):
    write_env(project, environment(ttl={"cutover": 1, "final": 3600}))
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    assert view(emulator.records("example.com"))[("example.com", "MX")] == [
        ("smtp.google.com", 1, 1, False)
    ]


def test_bad_or_missing_token(project, emulator, cf_env):
    write_env(project, environment())
    wrong = {**cf_env, "CLOUDFLARE_API_TOKEN": "not-the-token-123"}
    r = cli(project, wrong, "plan", "--env", "cf")
    assert r.returncode == 3
    assert "CLOUDFLARE_API_TOKEN" in r.stderr and "not-the-token-123" not in r.stdout + r.stderr
    missing = {k: v for k, v in cf_env.items() if k != "CLOUDFLARE_API_TOKEN"}
    r = run_cli(project, "plan", "--env", "cf", env=missing | {"CLOUDFLARE_API_TOKEN": ""})
    assert r.returncode == 2 and "CLOUDFLARE_API_TOKEN is not set" in r.stderr


def test_a_wrong_zone_id_is_a_config_error_naming_the_zone(project, emulator, cf_env):
    data = environment(zones=("example.com",))
    data["domains"]["example.com"]["zone_id"] = "0" * 32
    write_env(project, data)
    r = cli(project, cf_env, "plan", "--env", "cf")
    assert r.returncode == 2, r.stderr
    assert "example.com" in r.stderr and "zone_id" in r.stderr


def test_automatic_ttl_counts_as_the_300_s_cloudflare_serves_for_the_gate(
    project, emulator, cf_env
):
    """A record stored with TTL 1 ("automatic") is cached by resolvers for 300 s: the cutover
    gate must wait that long after prepare, not one second."""
    for z in ZONES:
        for rec in emulator.zone(z).records.values():
            rec["ttl"] = 1
    write_env(project, environment())
    r = cli(project, cf_env, "prepare", "--env", "cf", "--yes")
    assert r.returncode == 0, r.stderr
    entry = [r for r in runs(project, "cf") if r["kind"] == "stage"][-1]
    assert entry["t_old"] == 300
    r = cli(project, cf_env, "cutover", "--env", "cf", "--yes")
    assert r.returncode == 1 and "gate opens at" in r.stderr
    assert re.search(r"in [45]m\d\ds", r.stderr), r.stderr  # about 300 s, not 1 s
