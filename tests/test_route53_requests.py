"""Route53 request budget and lost answers, on moto's HTTP server (tests/moto_server.py).

A stage costs at most 3 requests per zone: the zones are found by one listing for the run, the
planning read is the only read (the exact DELETE is Route53's own precondition), one change, and
GetChange polled for the batch. When the answer to a change is lost, the touched names are read
again to tell applied, not applied and unknown apart.
"""

from __future__ import annotations

import pytest

from cutover.config import load_environment
from cutover.errors import DriftError, ProviderError
from cutover.plan import Change, Plan
from cutover.providers import get_provider
from tests.aws_helpers import demo_zone_text, write_route53_env
from tests.conftest import run_cli

pytest_plugins = ["tests.aws_fixtures"]

ZONES = ["example.com", "example.org", "example.net"]


def route53(counts) -> dict[str, int]:
    return {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("route53:") and v}


def test_each_stage_costs_at_most_three_requests_per_zone(project, aws, standins, monkeypatch):
    zids = {z: aws.seed_zone(z, demo_zone_text(project, z)) for z in ZONES}
    name = write_route53_env(project, ZONES, standins)
    # as on AWS: a change is answered PENDING (own id) and is INSYNC at the first GetChange
    monkeypatch.setattr(aws.server.app, "pending_changes", True)
    original = {z: aws.dump(zid) for z, zid in zids.items()}
    for args in (["prepare"], ["cutover", "--force"], ["rollback"], ["rollback"]):
        aws.server.app.reset_counts()
        r = run_cli(project, *args, "--env", name, "--yes", env=aws.env)
        assert r.returncode == 0, r.stderr
        got = route53(aws.server.app.snapshot())
        assert got == {
            "ListHostedZonesByName": 1,  # one listing finds all three zones
            "ListResourceRecordSets": 3,  # the planning read, nothing more before the change
            "ChangeResourceRecordSets": 3,
            "GetChange": 3,
        }, args
        assert sum(got.values()) - got["ListHostedZonesByName"] <= 3 * len(ZONES)
    assert {z: aws.dump(zid) for z, zid in zids.items()} == original


def _plan(provider, zone: str = "example.com") -> Plan:
    live = {r.key: r for r in provider.read(zone, [zone, f"_dmarc.{zone}"])}
    mx, dmarc = live[(f"{zone}.", "MX")], live[(f"_dmarc.{zone}.", "TXT")]
    return Plan(
        f"{zone}.",
        [Change(dmarc, dmarc.with_ttl(1)), Change(mx, mx.with_values(["0 new.example.net."]))],
        stage="cutover",
    )


def _provider(project, aws, standins, monkeypatch, attempts: int):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(attempts))
    zid = aws.seed_zone("example.com", demo_zone_text(project, "example.com"))
    name = write_route53_env(project, ["example.com"], standins)
    return zid, get_provider(load_environment(name, project))


def test_lost_answer_to_an_applied_change_counts_as_applied(project, aws, standins, monkeypatch):
    zid, provider = _provider(project, aws, standins, monkeypatch, attempts=1)
    plan = _plan(provider)
    aws.server.app.lose_changes = 1  # moto applies it, the answer never arrives
    ref = provider.apply("example.com", plan)
    assert ref.extra["changes"] == []  # no change id to wait for, and no error
    state = aws.dump(zid)
    assert state[("example.com.", "MX")] == (2, ["0 new.example.net."])
    assert state[("_dmarc.example.com.", "TXT")][0] == 1


def test_lost_answer_then_botocore_retry_refused_still_counts_as_applied(
    project, aws, standins, monkeypatch
):
    """botocore retries the change after the lost answer; Route53 refuses the retry (its DELETE
    no longer matches: the first attempt was applied). That is our own write, not drift."""
    zid, provider = _provider(project, aws, standins, monkeypatch, attempts=2)
    plan = _plan(provider)
    aws.server.app.reset_counts()
    aws.server.app.lose_changes = 1
    provider.apply("example.com", plan)
    assert aws.server.app.snapshot()["route53:ChangeResourceRecordSets"] == 2
    assert aws.dump(zid)[("example.com.", "MX")] == (2, ["0 new.example.net."])


def test_lost_answer_before_anything_was_written_says_so(project, aws, standins, monkeypatch):
    zid, provider = _provider(project, aws, standins, monkeypatch, attempts=1)
    plan = _plan(provider)
    before = aws.dump(zid)
    aws.server.app.drop_changes = 1  # the connection closes before moto sees the change
    with pytest.raises(ProviderError) as err:
        provider.apply("example.com", plan)
    assert err.value.exit_code == 3 and err.value.nothing_written is True
    assert "still holds every record as planned" in str(err.value)
    assert aws.dump(zid) == before


def test_lost_answer_with_the_zone_in_neither_state_is_unknown(project, aws, standins, monkeypatch):
    zid, provider = _provider(project, aws, standins, monkeypatch, attempts=1)
    plan = _plan(provider)
    aws.set_rrset(zid, "example.com.", "MX", 2, ["5 someone-else.example.net."])
    aws.server.app.drop_changes = 1
    with pytest.raises(ProviderError) as err:
        provider.apply("example.com", plan)
    assert err.value.nothing_written is False
    assert "unknown" in str(err.value)
    assert aws.dump(zid)[("example.com.", "MX")] == (2, ["5 someone-else.example.net."])


def test_drift_is_refused_by_route53_and_named_after_one_re_read(
    project, aws, standins, monkeypatch
):
    zid, provider = _provider(project, aws, standins, monkeypatch, attempts=1)
    plan = _plan(provider)
    aws.set_rrset(zid, "_dmarc.example.com.", "TXT", 7, ['"v=DMARC1; p=reject"'])
    before = aws.dump(zid)
    aws.server.app.reset_counts()
    with pytest.raises(DriftError) as err:
        provider.apply("example.com", plan)
    got = route53(aws.server.app.snapshot())
    assert got == {"ChangeResourceRecordSets": 1, "ListResourceRecordSets": 1}
    assert err.value.nothing_written
    assert "_dmarc.example.com. TXT changed since the plan was made" in str(err.value)
    assert aws.dump(zid) == before
