"""The Route53 provider against moto's HTTP server: drift, zone lookup, pagination, batch splits,
TXT escaping, and the GetChange wait."""

from __future__ import annotations

import dns.rdata
import pytest

from cutover import stages
from cutover.config import load_environment
from cutover.errors import ChecksFailed, ConfigError, DriftError
from cutover.plan import Change, Plan
from cutover.providers import get_provider
from cutover.providers.route53 import poll_change
from cutover.providers.route53_values import batches, from_route53, parse_txt, to_route53
from cutover.records import RRset
from tests.aws_helpers import demo_zone_text, write_route53_env
from tests.conftest import run_cli

pytest_plugins = ["tests.aws_fixtures"]


class DriftingUI:
    """A console stand-in whose confirmation is where a colleague edits the zone by hand."""

    def __init__(self, on_confirm) -> None:
        self.on_confirm = on_confirm
        self.lines: list[str] = []

    def show_plans(self, plans, findings) -> None:
        self.plans = plans

    def confirm(self, question: str) -> bool:
        self.on_confirm()
        return True

    def info(self, message: str) -> None:
        self.lines.append(message)

    warn = info

    def countdown(self, until, label) -> None:
        raise AssertionError("no gate expected")


def _one_zone(project, aws, standins, zone="example.com"):
    zid = aws.seed_zone(zone, demo_zone_text(project, zone))
    env = write_route53_env(project, [zone], standins)
    return zid, env


def test_drift_between_plan_and_apply_is_refused_and_nothing_changes(
    project, aws, standins, monkeypatch
):
    zid, name = _one_zone(project, aws, standins)
    monkeypatch.chdir(project)
    env = load_environment(name, project)
    # a colleague changes the apex MX after the plan was shown, before the apply
    ui = DriftingUI(lambda: aws.set_rrset(zid, "example.com.", "MX", 2, ["5 drift.example.net."]))
    before = aws.dump(zid)
    with pytest.raises(DriftError) as err:
        stages.run_stage(env, "prepare", ui)
    assert err.value.exit_code == 1
    assert "example.com. MX changed since the plan was made; nothing was applied" in str(err.value)
    after = aws.dump(zid)
    assert after[("example.com.", "MX")] == (2, ["5 drift.example.net."])
    assert {k: v for k, v in after.items() if k[1] != "MX"} == {
        k: v for k, v in before.items() if k[1] != "MX"
    }


def test_route53_delete_precondition_refuses_the_whole_batch(project, aws, standins, monkeypatch):
    """The race the pre-read cannot close: the record moves after it. Route53 (and the test
    server, which checks a DELETE against the live set as AWS does) must refuse the batch."""
    zid, name = _one_zone(project, aws, standins)
    env = load_environment(name, project)
    provider = get_provider(env)
    live = {r.key: r for r in provider.read("example.com", ["example.com", "_dmarc.example.com"])}
    mx, dmarc = live[("example.com.", "MX")], live[("_dmarc.example.com.", "TXT")]
    plan = Plan(
        "example.com.",
        [
            Change(dmarc, dmarc.with_ttl(1)),
            Change(mx, mx.with_values(["0 new.example.net."])),
        ],
        stage="cutover",
    )
    todo = provider.change_batches("example.com.", plan)
    assert len(todo) == 1 and [c["Action"] for c in todo[0]] == ["DELETE"] * 2 + ["CREATE"] * 2
    aws.set_rrset(zid, "example.com.", "MX", 7, ["1 smtp.google.com."])  # TTL only: still drift
    before = aws.dump(zid)
    with pytest.raises(DriftError) as err:
        provider._send("example.com.", zid, todo[0], plan, 1, 1)
    assert "Route53 refused the change" in str(err.value) and "nothing was applied" in str(
        err.value
    )
    assert aws.dump(zid) == before  # the _dmarc change in the same batch was not applied either


def test_two_public_zones_with_one_name_exit_2_naming_both(project, aws, standins):
    zid1 = aws.seed_zone("example.com", demo_zone_text(project, "example.com"), caller="one")
    zid2 = aws.seed_zone("example.com", demo_zone_text(project, "example.com"), caller="two")
    name = write_route53_env(project, ["example.com"], standins)
    r = run_cli(project, "plan", "--env", name, env=aws.env)
    assert r.returncode == 2, r.stderr
    assert zid1 in r.stderr and zid2 in r.stderr and "zone_id" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # naming the zone resolves it, and only that zone is read
    write_route53_env(
        project, ["example.com"], standins, extra_domains={"example.com": {"zone_id": zid2}}
    )
    r = run_cli(project, "plan", "--env", name, "--json", env=aws.env)
    assert r.returncode == 0, r.stderr


def test_missing_zone_is_exit_2(project, aws, standins):
    name = write_route53_env(project, ["example.com"], standins)
    r = run_cli(project, "plan", "--env", name, env=aws.env)
    assert r.returncode == 2 and "no public Route53 hosted zone named example.com." in r.stderr


def test_reads_only_managed_names_over_a_zone_of_400_records(project, aws, standins):
    text = demo_zone_text(project, "example.com")
    # 400 unmanaged names that sort before autodiscover and the DKIM selectors
    text += "".join(f"a{i:03d} 300 IN A 192.0.2.{i % 250 + 1}\n" for i in range(400))
    text += 'autodiscover 300 IN TXT "old autodiscover note"\n'
    zid = aws.seed_zone("example.com", text)
    name = write_route53_env(project, ["example.com"], standins)
    original = aws.dump(zid)
    assert len(original) > 400
    aws.server.app.reset_counts()
    r = run_cli(project, "prepare", "--env", name, "--yes", env=aws.env)
    assert r.returncode == 0, r.stderr
    counts = aws.server.app.snapshot()
    # apex, _dmarc and the _domainkey names share the first page; autodiscover sorts after the
    # 400 a### names and costs one jump: two reads to plan, two more right before the change
    assert counts["route53:ListResourceRecordSets"] <= 4
    assert counts["route53:ChangeResourceRecordSets"] == 1
    after = aws.dump(zid)
    assert after[("autodiscover.example.com.", "TXT")] == (300, ['"old autodiscover note"'])
    assert {k: v for k, v in after.items() if k[0].startswith("a0")} == {
        k: v for k, v in original.items() if k[0].startswith("a0")
    }


def test_read_follows_pages_within_one_name(project, aws, standins):
    zid, name = _one_zone(project, aws, standins)
    for rtype, value in (("A", "192.0.2.1"), ("AAAA", "2001:db8::1"), ("CAA", '0 issue "ca.test"')):
        aws.set_rrset(zid, "example.com.", rtype, 60, [value])
    provider = get_provider(load_environment(name, project))
    provider.page_size = 2
    aws.server.app.reset_counts()
    got = sorted(r.type for r in provider.read("example.com", ["example.com"]))
    assert got == ["A", "AAAA", "CAA", "MX", "TXT"]  # SOA and NS are never returned
    assert aws.server.app.snapshot()["route53:ListResourceRecordSets"] >= 3


def test_a_batch_over_1000_records_is_split_by_name_and_announced(project, aws, standins, capsys):
    zid, name = _one_zone(project, aws, standins)
    provider = get_provider(load_environment(name, project))
    changes = [
        Change(None, RRset(f"h{i}.example.com", "TXT", 60, (f"v{i}-a", f"v{i}-b", f"v{i}-c")))
        for i in range(400)
    ]
    plan = Plan("example.com.", changes, stage="prepare")
    aws.server.app.reset_counts()
    ref = provider.apply("example.com", plan)
    assert ref.extra["requests"] == 2
    assert "NOT atomic" in capsys.readouterr().err
    assert aws.server.app.snapshot()["route53:ChangeResourceRecordSets"] == 2
    assert aws.dump(zid)[("h399.example.com.", "TXT")][1] == ['"v399-a"', '"v399-b"', '"v399-c"']
    provider.wait(ref)  # moto answers INSYNC at once


def test_batches_keep_each_name_whole_and_deletes_first():
    def group(name, n):
        rs = {"Name": name, "Type": "TXT", "TTL": 1, "ResourceRecords": [{"Value": '"x"'}] * n}
        return [
            {"Action": "DELETE", "ResourceRecordSet": rs},
            {"Action": "CREATE", "ResourceRecordSet": rs},
        ]

    out = batches([group("a.", 300), group("b.", 300), group("c.", 10)], max_records=1000)
    assert [len(b) for b in out] == [2, 4]
    assert [c["Action"] for c in out[1]] == ["DELETE", "DELETE", "CREATE", "CREATE"]
    assert len(batches([group("a.", 1)] * 3, max_chars=12)) == 2  # 6 chars per group


@pytest.mark.parametrize(
    "presentation",
    [
        '"v=spf1 include:_spf.google.com ~all"',
        '"say \\"hi\\" \\\\ back"',
        '"caf\\195\\169"',
        '"' + "a" * 255 + '" "tail"',
        '"v=DMARC1; p=reject"',
    ],
)
def test_txt_values_round_trip_through_route53_spelling(presentation):
    r53 = to_route53("TXT", presentation)
    assert "\\195" not in r53  # octal on the Route53 side: é is \303\251
    back = from_route53("TXT", r53)
    want = dns.rdata.from_text("IN", "TXT", presentation)
    assert dns.rdata.from_text("IN", "TXT", back) == want


def test_route53_txt_forms_we_did_not_write_are_understood():
    assert parse_txt('"a\\073b" "c"') == [b"a;b", b"c"]  # octal escape of ';'
    assert parse_txt('"v=DMARC1\\; p=none"') == [b"v=DMARC1; p=none"]  # octoDNS's \;
    assert parse_txt("bare") == [b"bare"]


def test_wait_polls_getchange_until_insync_with_backoff():
    """moto always answers INSYNC, so PENDING -> INSYNC is tested against a stub of get_change
    only (a function returning statuses) and a fake clock; the real poll_change runs."""
    statuses = iter(["PENDING", "PENDING", "PENDING", "INSYNC"])
    now = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    polls = poll_change(lambda cid: next(statuses), "C1", 60, sleep=sleep, clock=lambda: now[0])
    assert polls == 4 and slept == [1.0, 1.5, 2.25]
    with pytest.raises(ChecksFailed, match="still PENDING after 5s"):
        poll_change(lambda cid: "PENDING", "C2", 5, sleep=sleep, clock=lambda: now[0])


def test_zone_id_of_another_name_is_exit_2(project, aws, standins):
    zid = aws.seed_zone("example.org", demo_zone_text(project, "example.org"))
    aws.seed_zone("example.com", demo_zone_text(project, "example.com"))
    name = write_route53_env(
        project, ["example.com"], standins, extra_domains={"example.com": {"zone_id": zid}}
    )
    provider = get_provider(load_environment(name, project))
    with pytest.raises(ConfigError, match="is example.org., not example.com."):
        provider.read("example.com", ["example.com"])
