"""Record-type mapping in one module: what each provider's spelling turns into and back."""

from __future__ import annotations

import pytest

from cutover.providers.cloudflare import record_body, record_value
from cutover.providers.route53_values import from_route53, to_route53
from cutover.records import RRset
from cutover.rrtypes import (
    mx_fields,
    mx_value,
    quote_string,
    rdataset_values,
    srv_fields,
    srv_value,
    to_rdataset,
    txt_from_strings,
    txt_split,
    txt_strings,
    txt_strings_octal,
    txt_text,
    txt_value,
)


def test_txt_split_at_255_bytes_and_joined_back():
    text = "v=DKIM1; p=x" + "é" * 300  # two bytes each: the first split falls inside one
    strings = txt_split(text)
    assert [len(s) for s in strings] == [255, 255, 102]
    assert txt_text(strings) == text  # joined, a split UTF-8 sequence comes back whole
    assert txt_strings(txt_value(text)) == strings


def test_decimal_and_octal_escapes_are_the_same_bytes():
    raw = [b'a"b\\c', b"\xe9;"]
    decimal, octal = txt_from_strings(raw), txt_from_strings(raw, octal=True)
    assert decimal == '"a\\"b\\\\c" "\\233;"' and octal == '"a\\"b\\\\c" "\\351;"'
    assert txt_strings(decimal) == raw and txt_strings_octal(octal) == raw
    assert quote_string(b"") == '""' and txt_strings_octal("") == [b""]
    assert from_route53("TXT", to_route53("TXT", decimal)) == decimal


def test_mx_and_srv_fields():
    assert mx_fields("10 mx.example.com.") == (10, "mx.example.com.")
    assert mx_value(10, "mx.example.com") == "10 mx.example.com."
    assert srv_fields("0 5 443 autodiscover.outlook.com.") == (
        0,
        5,
        443,
        "autodiscover.outlook.com.",
    )
    assert srv_value(0, 5, 443, "autodiscover.outlook.com") == "0 5 443 autodiscover.outlook.com."
    for bad in ("10", "10 a b", "70000 mx.example.com."):
        with pytest.raises(ValueError):
            mx_fields(bad)
    with pytest.raises(ValueError):
        srv_fields("0 5 autodiscover.outlook.com.")


@pytest.mark.parametrize(
    "rrset",
    [
        RRset("example.com.", "MX", 300, ("0 mx1.example.net.", "10 mx2.example.net.")),
        RRset("_sip._tls.example.com.", "SRV", 300, ("100 1 443 sipdir.online.lync.com.",)),
        RRset("autodiscover.example.com.", "CNAME", 300, ("autodiscover.outlook.com.",)),
    ],
)
def test_cloudflare_fields_round_trip(rrset):
    """record_body (what is posted) read back through record_value gives the same values."""
    for value in rrset.values:
        body = record_body(rrset, value)
        assert not str(body.get("content", "")).endswith(".")  # Cloudflare takes bare names
        assert RRset(rrset.name, rrset.type, 300, (record_value(body),)).values == (value,)


def test_dnspython_rdataset_round_trip():
    rrset = RRset("example.com.", "TXT", 60, ('"a" "b"', txt_value("x" * 300)))
    rds = to_rdataset(rrset.type, rrset.ttl, rrset.values)
    assert rds.ttl == 60 and RRset(rrset.name, "TXT", rds.ttl, rdataset_values(rds)) == rrset
    assert sorted(rdataset_values(rds)) == sorted(rrset.values)  # string split kept
