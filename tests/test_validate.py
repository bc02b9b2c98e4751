"""`invoke validate` against real servers: two Knot instances as the two nameservers of each zone
(one of them lagging or wrong), a lame one, a silent one, and a real Unbound resolver caching the
old MX."""

from __future__ import annotations

import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_project, run_cli
from tests.lifecycle_helpers import fast_demo

ZONES = ("example.com", "example.org")
MS_MX = "0 example-com.mail.protection.outlook.com."


@pytest.fixture(scope="module")
def cut_over(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The demo after prepare and cutover, and the text of its zone files at that point."""
    root = copy_project(tmp_path_factory.mktemp("validate") / "repo")
    fast_demo(root)
    for stage in ("prepare", "cutover"):
        r = run_cli(root, stage, "--env", "demo", "--yes", "--wait")
        assert r.returncode == 0, r.stderr
    texts = {z: (root / "demo" / "zones" / f"{z}.zone").read_text() for z in ZONES}
    return root, texts


def write_env(root: Path, name: str, nameservers: list[str], resolvers=(), require=False) -> str:
    data = yaml.safe_load((root / "environments" / "demo.yaml").read_text())
    data["validation"] = {
        "nameservers": list(nameservers),
        "resolvers": list(resolvers),
        "require_resolvers": require,
        "timeout": 15,
    }
    (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return name


def validate(root: Path, env: str, *extra: str):
    r = run_cli(root, "validate", "--env", env, "--stage", "cutover", "--json", *extra)
    return r, json.loads(r.stdout) if r.stdout.strip() else None


def bad(doc: dict) -> list[tuple[str, str, str, str]]:
    return sorted(
        (f["server"], f["name"], f["type"], f["status"])
        for f in doc["findings"]
        if f["required"] and f["status"] != "OK"
    )


def test_two_servers_in_sync_pass_then_a_wrong_mx_on_one_fails(cut_over, knot_factory, tmp_path):
    root, texts = cut_over
    a, b = knot_factory(texts), knot_factory(texts)
    env = write_env(root, "twoknots", [a.address, b.address])
    r, doc = validate(root, env)
    assert r.returncode == 0, r.stderr
    assert doc["ok"] and doc["summary"]["servers_converged"] == doc["summary"]["servers"] == 4
    # one finding per (zone, server, RRset): 2 zones x 2 servers x the RRsets cutover wants
    wanted = len({(f["zone"], f["name"], f["type"]) for f in doc["findings"]})
    assert len(doc["findings"]) == 2 * wanted and wanted >= 12

    b.knot_set("example.com", "@", 1, "MX", "1 smtp.google.com.")
    junit = tmp_path / "validate.xml"
    r, doc = validate(root, env, "--junit", str(junit))
    assert r.returncode == 1
    assert bad(doc) == [(b.address, "example.com.", "MX", "VALUE_MISMATCH")]
    assert "error: 1 check(s) failed" in r.stderr
    suite = ET.parse(junit).getroot()
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        ("example.com", "example.com. MX")
    ]
    assert b.address in failed[0].find("failure").get("message")
    assert a.address not in failed[0].find("failure").get("message")
    assert int(suite.get("tests")) == wanted + len(doc["policy"])  # lint findings are cases too
    assert suite.get("failures") == "1" and suite.get("errors") == "0"


def test_missing_dkim_selector_and_ttl_still_high(cut_over, knot_factory):
    root, texts = cut_over
    a, b = knot_factory(texts), knot_factory(texts)
    env = write_env(root, "drifted", [a.address, b.address])
    a.knotc("zone-begin", "example.org")
    a.knotc("zone-unset", "example.org", "selector1._domainkey", "CNAME")
    a.knotc("zone-commit", "example.org")
    b.knot_set("example.com", "@", 3600, "MX", MS_MX)  # right value, TTL never lowered
    r, doc = validate(root, env)
    assert r.returncode == 1
    assert bad(doc) == sorted(
        [
            (a.address, "selector1._domainkey.example.org.", "CNAME", "MISSING"),
            (b.address, "example.com.", "MX", "TTL_MISMATCH"),
        ]
    )
    ttl = next(f for f in doc["findings"] if f["status"] == "TTL_MISMATCH")
    assert ttl["got"]["ttl"] == 3600 and ttl["expected"]["ttl"] == 1


def test_lame_server_and_silent_server_are_their_own_findings(cut_over, knot_factory):
    root, texts = cut_over
    good = knot_factory(texts)
    lame = knot_factory(
        {"unrelated.example": texts["example.com"].replace("example.com", "unrelated.example")}
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent_addr = f"127.0.0.1:{silent.getsockname()[1]}"
        env = write_env(root, "lame", [good.address, lame.address, silent_addr])
        r, doc = validate(root, env)
    assert r.returncode == 1
    by_server = {}
    for f in doc["findings"]:
        by_server.setdefault(f["server"], set()).add(f["status"])
    assert by_server == {
        good.address: {"OK"},
        lame.address: {"REFUSED"},
        silent_addr: {"TIMEOUT"},
    }


def test_no_server_reachable_exits_3(cut_over, tmp_path):
    root, _ = cut_over
    junit = tmp_path / "dark.xml"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        env = write_env(root, "dark", [f"127.0.0.1:{silent.getsockname()[1]}"])
        r, doc = validate(root, env, "--junit", str(junit))
    assert r.returncode == 3, r.stderr
    assert "no authoritative server answered" in r.stderr
    assert not doc["ok"] and doc["exit_code"] == 3
    suite = ET.parse(junit).getroot()  # a silent server is an error for CI, not a failure
    assert suite.get("failures") == "0" and int(suite.get("errors")) > 0
    assert all(
        c.find("error") is not None
        for c in suite.iter("testcase")
        if "lint." not in c.get("classname")
    )


def test_wait_converges_when_the_lagging_server_catches_up(cut_over, knot_factory):
    root, texts = cut_over
    a = knot_factory(texts)
    lagging = knot_factory(texts)
    lagging.knot_set("example.com", "@", 1, "MX", "1 smtp.google.com.")
    env = write_env(root, "lagging", [a.address, lagging.address])
    fix = threading.Timer(1.5, lagging.knot_set, ("example.com", "@", 1, "MX", MS_MX))
    fix.start()
    try:
        started = time.monotonic()
        r, doc = validate(root, env, "--wait")
    finally:
        fix.join()
    assert r.returncode == 0, r.stderr
    assert doc["summary"]["rounds"] > 1 and time.monotonic() - started >= 1.5


def test_resolver_reports_stale_answer_with_remaining_ttl_then_fresh(
    cut_over, knot_factory, unbound_factory
):
    root, texts = cut_over
    knot = knot_factory(texts)
    knot.knot_set("example.com", "@", 6, "MX", "1 smtp.google.com.")
    resolver = unbound_factory({z: knot.address for z in ZONES})
    # a customer's resolver caches the old MX (TTL 6) before the switch...
    import dns.message
    import dns.query

    q = dns.message.make_query("example.com.", "MX")
    assert "smtp.google.com" in dns.query.udp(q, "127.0.0.1", port=resolver.port).to_text()
    knot.knot_set("example.com", "@", 4, "MX", MS_MX)

    advisory = write_env(root, "resolvers", [knot.address], [resolver.address])
    r, doc = validate(root, advisory)
    stale = [f for f in doc["findings"] if f["status"] == "STALE"]
    assert [(f["zone"], f["type"]) for f in stale] == [("example.com.", "MX")]
    left = int(stale[0]["message"].split(" for ")[1].split()[0])
    assert 0 < left <= 6 and stale[0]["message"].startswith(f"{resolver.address} serves the old MX")
    assert not stale[0]["required"]
    # the authoritative MX has the TTL 4 we set, so exit 1 comes only from that TTL, not the resolver
    assert bad(doc) == [(knot.address, "example.com.", "MX", "TTL_MISMATCH")]

    required = write_env(root, "resolvers_required", [knot.address], [resolver.address], True)
    knot.knot_set("example.com", "@", 1, "MX", MS_MX)
    r, doc = validate(root, required)
    assert r.returncode == 1 and [f["status"] for f in doc["findings"] if f["status"] != "OK"] == [
        "STALE"
    ]
    deadline = time.monotonic() + 10
    while True:  # once the cached TTL runs out the resolver fetches the new MX
        r, doc = validate(root, required)
        if r.returncode == 0:
            break
        assert time.monotonic() < deadline, doc and bad(doc)
        time.sleep(0.5)
    assert all(f["status"] == "OK" for f in doc["findings"])


def test_policy_checks_run_on_what_is_served(cut_over, knot_factory):
    root, texts = cut_over
    knot = knot_factory(texts)
    env = write_env(root, "policy", [knot.address])
    r, doc = validate(root, env)
    assert r.returncode == 0 and doc["policy"] == []
    # the DMARC record is the user's until finalize: its TTL is all cutover checks, but lint reads it
    knot.knot_set("example.org", "_dmarc", 1, "TXT", '"v=DMARC1; p=rejected"')
    r, doc = validate(root, env)
    assert r.returncode == 1 and bad(doc) == []
    assert [(f["domain"], f["code"]) for f in doc["policy"]] == [
        ("example.org", "DMARC_INVALID_TAG_VALUE")
    ]
    assert "policy error(s) in what is served" in r.stderr
