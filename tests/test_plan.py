"""The diff under the ownership rules of DESIGN.md."""

import pytest

from cutover.errors import ChecksFailed, UsageError
from cutover.plan import Want, diff
from cutover.records import RRset

Z = "example.com."
GSV = '"google-site-verification=abc123"'
OTHER = '"unrelated" "-token"'


def live():
    return [
        RRset(Z, "MX", 3600, ("1 smtp.google.com.",)),
        RRset(Z, "TXT", 3600, ('"v=spf1 include:_spf.google.com ~all"', GSV, OTHER)),
        RRset("www.example.com.", "A", 300, ("192.0.2.10",)),
    ]


def test_apex_txt_only_spf_and_owned_values_change():
    want = Want(
        Z,
        "TXT",
        300,
        ("v=spf1 include:spf.protection.outlook.com ~all", "MS=ms1"),
        partial=True,
        owned=frozenset({"MS=ms1"}),
    )
    plan = diff(Z, [want], live())
    (change,) = plan.changes
    assert change.after.texts() == sorted(
        [
            "google-site-verification=abc123",
            "unrelated-token",
            "MS=ms1",
            "v=spf1 include:spf.protection.outlook.com ~all",
        ]
    )
    # values we do not own keep their exact presentation, split included
    assert GSV in change.after.values and OTHER in change.after.values


def test_owned_verification_value_is_removed_when_no_longer_wanted():
    current = [RRset(Z, "TXT", 300, ('"v=spf1 -all"', '"MS=ms1"', GSV))]
    want = Want(Z, "TXT", 300, ("v=spf1 -all",), partial=True, owned=frozenset({"MS=ms1"}))
    (change,) = diff(Z, [want], current).changes
    assert change.after.texts() == ["google-site-verification=abc123", "v=spf1 -all"]


def test_keep_values_only_lowers_ttl_and_creates_nothing():
    plan = diff(Z, [Want(Z, "MX", 300, None), Want("new.example.com.", "TXT", 300, None)], live())
    (change,) = plan.changes
    assert change.before.ttl == 3600 and change.after.ttl == 300
    assert change.after.same_values(change.before)


def test_unrendered_names_are_never_touched_and_equal_is_no_change():
    plan = diff(Z, [Want(Z, "MX", 3600, ("1 smtp.google.com.",))], live())
    assert not plan


def test_never_zero_mx():
    with pytest.raises(ChecksFailed, match="delete every MX"):
        diff(Z, [Want(Z, "MX", 300, ())], live())


@pytest.mark.parametrize("rtype", ["SOA", "NS"])
def test_soa_and_ns_are_refused(rtype):
    with pytest.raises(UsageError, match="never changes SOA or NS"):
        diff(Z, [Want(Z, rtype, 300, ("ns1.example.com.",))], live())


def test_names_outside_the_zone_are_refused():
    with pytest.raises(UsageError, match="outside zone"):
        diff(Z, [Want("example.org.", "TXT", 300, ("x",))], live())


def test_plan_hash_is_stable_and_sensitive():
    w = [Want(Z, "MX", 300, ("0 a.example.",))]
    assert diff(Z, w, live()).sha256() == diff(Z, w, live()).sha256()
    assert (
        diff(Z, w, live()).sha256()
        != diff(Z, [Want(Z, "MX", 301, ("0 a.example.",))], live()).sha256()
    )


def test_cname_beside_other_data_is_refused():
    current = live() + [RRset("autodiscover.example.com.", "A", 300, ("192.0.2.5",))]
    want = Want("autodiscover.example.com.", "CNAME", 300, ("autodiscover.outlook.com.",))
    with pytest.raises(ChecksFailed, match="CNAME beside A"):
        diff(Z, [want], current)
    # replacing the A in the same plan is fine
    plan = diff(Z, [want, Want("autodiscover.example.com.", "A", 300, ())], current)
    assert {c.action for c in plan.changes} == {"create", "delete"}
