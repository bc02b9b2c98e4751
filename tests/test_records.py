"""Normalisation: the one canonical form every provider and check compares in."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutover.errors import UsageError
from cutover.records import RRset, fqdn, normalize_value, txt_join, txt_strings, txt_value


def test_names_are_lowercase_absolute_and_punycode():
    assert fqdn("Example.COM") == "example.com."
    assert fqdn("_DMARC", "Example.com") == "_dmarc.example.com."
    assert fqdn("@", "example.com.") == "example.com."
    assert fqdn("bücher.example") == "xn--bcher-kva.example."


def test_invalid_name_is_a_usage_error():
    with pytest.raises(UsageError, match="invalid DNS name"):
        fqdn("a" * 64 + ".example.com")


def test_mx_and_cname_targets_are_absolute_and_lowercase():
    assert normalize_value("MX", "10  MX1.Example.NET") == "10 mx1.example.net."
    assert normalize_value("CNAME", "Autodiscover.Outlook.com") == "autodiscover.outlook.com."
    assert normalize_value("MX", "0 .") == "0 ."
    with pytest.raises(UsageError, match="MX"):
        normalize_value("MX", "mx1.example.net")


def test_long_txt_is_split_at_255_bytes_and_joined_without_spaces():
    text = "v=DKIM1; k=rsa; p=" + "A" * 392
    value = txt_value(text)
    assert [len(s) for s in txt_strings(value)] == [255, len(text) - 255]
    assert txt_join(value) == text


def test_txt_values_split_differently_are_equal_and_keep_their_split():
    a = RRset("x.example.", "TXT", 300, ('"v=spf1 include:a" " ~all"',))
    b = RRset("x.example.", "TXT", 300, ('"v=spf1 include:a ~all"',))
    assert a == b
    assert a.values == ('"v=spf1 include:a" " ~all"',)  # not re-split: written back as it was


def test_ttl_is_part_of_equality_value_order_is_not():
    a = RRset("example.com", "MX", 300, ("10 a.example.", "20 b.example."))
    assert a == RRset("EXAMPLE.com.", "mx", 300, ("20 B.example", "10 a.example."))
    assert a != a.with_ttl(3600)


def test_quotes_and_backslashes_in_txt_survive():
    text = 'say "hi" \\ bye'
    assert txt_join(txt_value(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=1200))
def test_txt_round_trip_property(text):
    value = txt_value(text)
    assert txt_join(value) == text
    assert all(len(s) <= 255 for s in txt_strings(value))
    assert RRset("t.example.", "TXT", 60, (value,)).texts() == [text]
