"""The MTA-STS pieces on their own: the policy format and RFC 8461 §4.1 matching, the
`mta_sts` section's one-line errors, and fetching a policy as senders do (a real HTTPS server
with a test CA: the name checked, only 200 and text/plain accepted)."""

from __future__ import annotations

import pytest
import yaml

from cutover.config import load_environment
from cutover.errors import ConfigError
from cutover.mtasts import policy as pol
from cutover.mtasts.fetch import FetchError, fetch_policy
from tests.lifecycle_helpers import zone_state
from tests.mtasts_server import PolicyServer, make_ca_and_leaf


@pytest.mark.parametrize(
    ("pattern", "host", "match"),
    [
        ("mx1.example.net", "mx1.example.net", True),
        ("MX1.Example.NET", "mx1.example.net.", True),
        ("mx1.example.net", "mx2.example.net", False),
        ("*.example.net", "mx1.example.net", True),
        ("*.example.net", "example.net", False),  # the wildcard needs one label
        ("*.example.net", "a.b.example.net", False),  # and only one
        ("*.example.net", "mx1.example.org", False),
        ("*.mail.protection.outlook.com", "example-com.mail.protection.outlook.com", True),
    ],
)
def test_mx_patterns_match_as_rfc_8461_says(pattern, host, match):
    assert pol.mx_matches(pattern, host) is match


def test_parse_and_render_round_trip_and_reject_what_is_not_a_policy():
    p = pol.parse(
        "version: STSv1\nmode: enforce\nmx: a.example.net\nmx: *.b.example\nmax_age: 86400\n"
    )
    assert (p.mode, p.mx, p.max_age) == ("enforce", ("a.example.net", "*.b.example"), 86400)
    assert pol.parse(p.text()) == p
    assert p.text().endswith("max_age: 86400\r\n")
    for bad, why in [
        ("mode: enforce\nmx: a\nmax_age: 1\n", "version"),
        ("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "mode"),
        ("version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmax_age: 60\n", "mx"),
    ]:
        with pytest.raises(pol.PolicyError, match=why):
            pol.parse(bad)


def test_coexistence_and_final_policies():
    orig = pol.parse("version: STSv1\nmode: enforce\nmx: *.google.com\nmax_age: 604800\n")
    both = pol.coexistence(orig, ["smtp.google.com"], ["x.mail.protection.outlook.com"])
    assert both.mode == "testing" and both.max_age == 604800
    assert both.mx == ("*.google.com", "x.mail.protection.outlook.com")  # smtp.google.com covered
    end = pol.final(orig, ["x.mail.protection.outlook.com"])
    assert (end.mode, end.mx, end.max_age) == (
        "enforce",
        ("x.mail.protection.outlook.com",),
        604800,
    )
    assert pol.policy_id(both.text()) != pol.policy_id(end.text())
    assert pol.policy_id(end.text()).isalnum() and len(pol.policy_id(end.text())) <= 32


def _env_with(project, section):
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["mta_sts"] = section
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("section", "expect"),
    [
        ({"publish": {"directory": "web"}, "color": 1}, "mta_sts.color: unknown key"),
        ({}, "mta_sts.publish: needs exactly one of directory"),
        ({"publish": {"directory": "w", "s3": {"bucket": "b"}}}, "needs exactly one"),
        ({"publish": {"ftp": "x"}}, "mta_sts.publish.ftp: unknown key (allowed: directory, s3)"),
        ({"publish": {"s3": {"key_prefix": "p/"}}}, "mta_sts.publish.s3.bucket: is required"),
        ({"publish": {"s3": {"bucket": "b", "acl": "x"}}}, "mta_sts.publish.s3.acl: unknown key"),
        ({"publish": {"directory": 3}}, "mta_sts.publish.directory: must be a path"),
        ({"domains": ["example.net"], "publish": {"directory": "w"}},
         "mta_sts.domains[0]: example.net is not a domain of this file"),
        ({"publish": {"directory": "w"}, "fetch": {"connect": "[::1"}}, "mta_sts.fetch.connect"),
        ({"publish": {"directory": "w"}, "fetch": {"timeout": 0}}, "mta_sts.fetch.timeout"),
        ({"publish": {"directory": "w"}, "fetch": {"wait": "soon"}}, "mta_sts.fetch.wait"),
    ],
)  # fmt: skip
def test_config_errors_are_one_line_naming_the_key(project, section, expect):
    _env_with(project, section)
    with pytest.raises(ConfigError) as err:
        load_environment("demo", project)
    assert expect in err.value.message and "\n" not in err.value.message


def test_defaults_manage_every_domain(project):
    _env_with(project, {"publish": {"directory": "web"}})
    sts = load_environment("demo", project).mta_sts
    assert sts.domains == ["example.com", "example.org"] and sts.publish == "directory"
    assert sts.connect is None and sts.ca_file is None and sts.timeout == 10 and sts.wait == 60


def test_prepare_without_a_published_policy_is_refused_and_changes_nothing(project, cli):
    _env_with(project, {"domains": ["example.com"], "publish": {"directory": "web"}})
    before = zone_state(project, "example.com")
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 2
    assert r.stderr.startswith("error: mta_sts: example.com: no MTA-STS policy at ")
    assert zone_state(project, "example.com") == before
    assert not list(project.glob(".cutover/demo/snapshots/*"))


def test_prepare_with_an_invalid_published_policy_is_refused(project, cli):
    _env_with(project, {"domains": ["example.com"], "publish": {"directory": "web"}})
    path = project / "web" / "example.com" / ".well-known" / "mta-sts.txt"
    path.parent.mkdir(parents=True)
    path.write_text("version: STSv1\nmode: maybe\n")
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 2
    assert "not a valid MTA-STS policy: mode 'maybe'" in r.stderr


def test_a_domain_that_announces_no_policy_is_refused(project, cli):
    """A policy file with no `_mta-sts` TXT: announcing one could turn enforcement on."""
    _env_with(project, {"domains": ["example.com"], "publish": {"directory": "web"}})
    path = project / "web" / "example.com" / ".well-known" / "mta-sts.txt"
    path.parent.mkdir(parents=True)
    path.write_text("version: STSv1\nmode: enforce\nmx: smtp.google.com\nmax_age: 60\n")
    before = zone_state(project, "example.com")
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 2
    assert "mta_sts: example.com: no v=STSv1 TXT at _mta-sts.example.com." in r.stderr
    assert zone_state(project, "example.com") == before
    assert "mode: enforce" in path.read_text()


@pytest.fixture(scope="module")
def https(tmp_path_factory):
    work = tmp_path_factory.mktemp("https")
    ca, cert, key = make_ca_and_leaf(work, ["mta-sts.example.com"])
    web = work / "web"
    (web / "example.com" / ".well-known").mkdir(parents=True)
    (web / "example.com" / ".well-known" / "mta-sts.txt").write_text(
        "version: STSv1\nmode: testing\nmx: a.example.net\nmax_age: 60\n"
    )
    other_ca, _, _ = make_ca_and_leaf(tmp_path_factory.mktemp("other"), ["x"])
    with PolicyServer(web, cert, key) as srv:
        yield srv, str(ca), str(other_ca)


def test_fetch_verifies_the_certificate_and_the_name(https):
    srv, ca, other_ca = https
    text = fetch_policy("example.com", connect=srv.address, ca_file=ca)
    assert "mode: testing" in text
    assert srv.requests[-1] == "mta-sts.example.com/.well-known/mta-sts.txt"
    with pytest.raises(FetchError, match="certificate not valid"):
        fetch_policy("example.com", connect=srv.address, ca_file=other_ca)  # unknown CA
    with pytest.raises(FetchError, match="certificate not valid"):
        fetch_policy("example.org", connect=srv.address, ca_file=ca)  # not its name
    with pytest.raises(FetchError, match="Connection"):
        fetch_policy("example.com", connect="127.0.0.1:1", ca_file=ca, timeout=2)


def test_fetch_accepts_only_200_text_plain(https):
    srv, ca, _ = https
    cases = [
        ((301, "text/html", {"Location": "https://elsewhere.example/"}), "HTTP 301"),
        ((404, "text/plain", {}), "HTTP 404"),
        ((200, "text/html", {}), "Content-Type text/html"),
    ]
    try:
        for answer, why in cases:
            srv.raw["example.com"] = answer
            with pytest.raises(FetchError, match=why):
                fetch_policy("example.com", connect=srv.address, ca_file=ca, timeout=2)
    finally:
        srv.raw.clear()
