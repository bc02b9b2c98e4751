"""Lint shares one lookup across zones: every outside name is asked once per run, all of them
before the checks and concurrently, and the same SPF record is evaluated once.

The lint resolver here is the embedded server (demo zones and stand-ins) behind bench/relay.py,
which counts the queries that reach it; counts, never times.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cutover.config import load_environment
from cutover.dnsserver import DNSServer
from cutover.validation import validate
from tests.conftest import REPO
from tests.servers import free_port


@pytest.fixture
def lint_dns(project: Path):
    with DNSServer([project / "demo" / "zones", project / "demo" / "standins"]) as srv:
        yield srv


class Relay:
    """bench/relay.py with no added delay: forwards to the lint resolver and counts queries."""

    def __init__(self, upstream: str) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "relay.py"), "--listen", self.address,
             "--upstream", upstream, "--rtt-ms", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().startswith("READY")

    def stop(self) -> int:
        """Stop it; the number of UDP queries it relayed."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        line = next(x for x in out.splitlines() if x.startswith("COUNTS"))
        return int(line.split()[1].split("=")[1])


def _validate(project: Path, lint_dns, domains: list[str]):
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    data["domains"] = {d: data["domains"][d] for d in domains}
    relay = Relay(lint_dns.address)
    try:
        data["lint"] = {"resolvers": [relay.address]}
        (project / "environments" / "shared.yaml").write_text(yaml.safe_dump(data))
        report = validate(load_environment("shared", project), "prepare")
    finally:
        relayed = relay.stop()
    return report, relayed


def test_outside_names_are_asked_once_for_all_zones(project, lint_dns):
    one, relayed_one = _validate(project, lint_dns, ["example.com"])
    two, relayed_two = _validate(project, lint_dns, ["example.com", "example.org"])
    for report, relayed in ((one, relayed_one), (two, relayed_two)):
        # before prepare the served SPF lacks the new provider (and its DKIM is not there yet):
        # those findings only; none from a lookup that failed
        assert {f.code for f in report.policy} <= {"SPF_UNION_INCOMPLETE", "DKIM_NOT_FOUND"}
        # every lookup a check made had been asked ahead, concurrently: none asked late
        assert report.lookups["late"] == 0 and report.lookups["asked"] > 0
        # and each question reached the resolver exactly once (plus the one probe)
        assert relayed == report.lookups["asked"] + 1
    # the second zone shares the SPF include chain (and the rest of Google's names) with the first
    assert two.lookups["asked"] < 2 * one.lookups["asked"]


def test_many_zones_cost_one_wave_per_include_level_not_one_per_zone(project, lint_dns):
    _, _ = _validate(project, lint_dns, ["example.com"])
    report, _ = _validate(project, lint_dns, ["example.com", "example.org"])
    # the served SPF is `include:_spf.google.com` whose record includes _netblocks: the chain
    # is two levels deep, asked alongside validate's own queries, plus at most one more wave
    # for what the servers serve differently from the stage's records
    assert report.lookups["waves"] <= 3
