# ruff: noqa: F811  (pytest fixtures imported from tests/cloudflare_fixtures.py)
"""Cloudflare record objects <-> our RRsets, and the per-record batch operations, in process
against the emulator (the real SDK over HTTP; nothing of ours is replaced)."""

from __future__ import annotations

import pytest

from cutover.config import parse_environment
from cutover.errors import ConfigError, DriftError, ProviderError
from cutover.plan import Change, Plan
from cutover.providers.cloudflare import (
    CloudflareProvider,
    batch_operations,
    record_body,
    record_value,
    to_rrsets,
)
from cutover.records import RRset, txt_value
from tests.cloudflare_emulator import CloudflareEmulator
from tests.cloudflare_fixtures import (  # noqa: F401  (fixtures)
    TOKEN,
    cf_env,
    emulator,
    environment,
    view,
)

ZONE = "example.com."


@pytest.fixture
def provider(project, emulator, cf_env, monkeypatch):
    for k, v in cf_env.items():
        monkeypatch.setenv(k, v)
    data = environment()
    env = parse_environment("cf", project / "environments" / "cf.yaml", project, data)
    p = CloudflareProvider(env)
    yield p
    p.close()


def roundtrip(emu: CloudflareEmulator, rrset: RRset) -> RRset:
    for v in rrset.values:
        emu.add_record(ZONE.rstrip("."), **record_body(rrset, v))
    recs = [r for r in emu.records(ZONE) if r["name"] == rrset.name.rstrip(".")]
    recs = [r for r in recs if r["type"] == rrset.type]
    (got,) = to_rrsets(recs)
    return got


@pytest.mark.parametrize(
    "rrset",
    [
        RRset("sub.example.com.", "MX", 300, ("0 a.mx.example.", "10 b.mx.example.")),
        RRset("x.example.com.", "CNAME", 60, ("target.example.net.",)),
        RRset("_sip._tls.example.com.", "SRV", 3600, ("100 1 443 sipdir.online.lync.com.",)),
        RRset("k._domainkey.example.com.", "TXT", 1, (txt_value("v=DKIM1; p=" + "A" * 400),)),
        RRset("q.example.com.", "TXT", 60, ('"say \\"hi\\"; c:\\\\path"',)),
    ],
)
def test_values_survive_the_api_unchanged(emulator, rrset):
    got = roundtrip(emulator, rrset)
    assert got == rrset
    assert got.values == rrset.values  # the string split of a long TXT too


def test_unquoted_txt_content_and_float_priority_read_as_the_same_values():
    recs = [
        {"name": "example.com", "type": "TXT", "content": "v=spf1 -all", "ttl": 300},
        {"name": "example.com", "type": "MX", "content": "mx.example", "priority": 10.0, "ttl": 1},
    ]
    got = {r.type: r for r in to_rrsets(recs)}
    assert got["TXT"] == RRset("example.com.", "TXT", 300, ('"v=spf1 -all"',))
    assert got["MX"].values == ("10 mx.example.",)
    assert record_value(recs[1]) == "10 mx.example."


def test_records_of_one_rrset_with_different_ttls_take_the_largest():
    recs = [
        {"name": "example.com", "type": "MX", "content": "a.mx", "priority": 1, "ttl": 60},
        {"name": "example.com", "type": "MX", "content": "b.mx", "priority": 2, "ttl": 3600},
    ]
    assert to_rrsets(recs)[0].ttl == 3600


def test_mx_swap_is_delete_plus_post_and_shared_txt_keeps_foreign_ids():
    live = [
        {
            "id": "mx1",
            "name": "example.com",
            "type": "MX",
            "content": "smtp.google.com",
            "priority": 1,
            "ttl": 60,
        },  # fmt: skip
        {
            "id": "spf",
            "name": "example.com",
            "type": "TXT",
            "content": '"v=spf1 ~all"',
            "ttl": 3600,
        },
        {
            "id": "gsv",
            "name": "example.com",
            "type": "TXT",
            "content": "google-site-verification=x",
            "ttl": 3600,
        },  # fmt: skip
    ]
    before = {r.key: r for r in to_rrsets(live)}
    plan = Plan(
        ZONE,
        [
            Change(before[(ZONE, "MX")], RRset(ZONE, "MX", 60, ("0 new.mx.example.",))),
            Change(
                before[(ZONE, "TXT")],
                RRset(ZONE, "TXT", 300, ('"google-site-verification=x"', '"v=spf1 -all"')),
            ),
        ],
    )
    ops = batch_operations(plan, live)
    assert {d["id"] for d in ops["deletes"]} == {"mx1", "spf"}
    assert ops["patches"] == [
        {"id": "gsv", "name": "example.com", "type": "TXT", "ttl": 300, "proxied": False}
    ]
    assert [(p["type"], p.get("content"), p.get("priority")) for p in ops["posts"]] == [
        ("MX", "new.mx.example", 0),
        ("TXT", '"v=spf1 -all"', None),
    ]
    assert all(p["proxied"] is False for p in ops["posts"])


def test_apply_reads_all_pages_and_sends_one_batch(provider, emulator):
    emulator.requests.clear()
    (before,) = [r for r in provider.read(ZONE, [ZONE]) if r.type == "TXT"]
    pages = emulator.count("GET", "/dns_records")
    assert len(before.values) == 3 and pages >= 2  # page_cap=2: the 3 TXT + 2 A + MX span pages
    after = before.with_values([*before.values, '"new-value"'])
    emulator.requests.clear()
    provider.apply(ZONE, Plan(ZONE, [Change(before, after)]))
    assert emulator.count("POST", "/dns_records/batch") == 1
    assert [m for m, _ in emulator.requests if m != "GET"] == ["POST"]
    (now,) = [r for r in provider.read(ZONE, [ZONE]) if r.type == "TXT"]
    assert now == after


def test_apply_refuses_drift_and_sends_nothing(provider, emulator):
    (mx,) = [r for r in provider.read(ZONE, [ZONE]) if r.type == "MX"]
    emulator.add_record("example.com", name="example.com", type="MX", content="sneaky.mx", priority=5, ttl=3600)  # fmt: skip
    emulator.requests.clear()
    plan = Plan(ZONE, [Change(mx, mx.with_values(["0 new.mx.example."]))])
    with pytest.raises(DriftError):
        provider.apply(ZONE, plan)
    assert emulator.count("POST", "/dns_records/batch") == 0


def test_plan_with_a_sub_minimum_ttl_is_refused_before_any_write(provider, emulator):
    (mx,) = [r for r in provider.read(ZONE, [ZONE]) if r.type == "MX"]
    emulator.requests.clear()
    with pytest.raises(ConfigError, match="below Cloudflare's 60-second minimum"):
        provider.apply(ZONE, Plan(ZONE, [Change(mx, mx.with_ttl(30))]))
    assert emulator.requests == []


def test_a_rejected_batch_changes_nothing(provider, emulator):
    """All or nothing: a post the API refuses (a CNAME beside the apex records) undoes the rest."""
    (mx,) = [r for r in provider.read(ZONE, [ZONE]) if r.type == "MX"]
    before = view(emulator.records("example.com"))
    plan = Plan(
        ZONE,
        [
            Change(mx, mx.with_values(["0 new.mx.example."])),
            Change(None, RRset(ZONE, "CNAME", 60, ("elsewhere.example.",))),
        ],
    )
    with pytest.raises(ProviderError, match="HTTP 400: 81053"):
        provider.apply(ZONE, plan)
    assert view(emulator.records("example.com")) == before


def test_token_only_from_the_environment(provider):
    assert provider._client.api_key is None and provider._client.api_email is None
    assert provider._client.auth_headers == {"Authorization": f"Bearer {TOKEN}"}
