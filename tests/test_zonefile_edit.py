"""The zone-file line editor: the map of a file's lines, in-place edits, and what it refuses.

Every result is read back with dnspython (`dns.zone.from_text`), independently of the editor's
own line map, and compared byte for byte with the text it started from.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutover.errors import ProviderError
from cutover.plan import Change, Plan
from cutover.providers.zonefile import ZoneFileProvider
from cutover.providers.zonefile_edit import edit_zone
from cutover.records import RRset
from cutover.zoneload import load_zone
from cutover.zonesyntax import ZoneSyntaxError, entries, scan
from tests.lifecycle_helpers import rrsets_of

ORIGIN = "t.example."

HAND = """\
; t.example: written by hand, every byte matters
$TTL 300
$ORIGIN t.example.
@\tIN\tSOA\tns1 hostmaster (
\t\t\t41 ; serial
\t\t\t3600 600 604800 60 )
\tIN\tNS\tns1
\tIN\tMX\t10 mail        ; primary
\tIN\tMX\t20 backup
\tIN\tTXT\t"v=spf1 mx -all"
\tIN\tTXT\t"note; with a semicolon" ; and a comment
ns1\tIN\tA\t192.0.2.1
mail\t3600\tIN\tA\t192.0.2.25
\tIN\tTXT\t"mailhost"
_dmarc\tIN\tTXT\t"v=DMARC1; p=none"
$ORIGIN sub.t.example.
host\tIN\tA\t192.0.2.9
"""


def edit(tmp_path, text, changes, origin=ORIGIN):
    return edit_zone(scan(tmp_path / "t.example.zone", origin, text), changes)


def zone(text, origin=ORIGIN):
    return rrsets_of(dns.zone.from_text(text, origin=origin, relativize=False))


def masked(text: str, serial: int) -> str:
    assert len(re.findall(rf"\b{serial}\b", text)) == 1
    return re.sub(rf"\b{serial}\b", "SERIAL", text)


def serial_of(text, origin=ORIGIN) -> int:
    z = dns.zone.from_text(text, origin=origin, relativize=False)
    return z.get_rdataset(z.origin, "SOA")[0].serial


def rr(name, rtype, ttl, *values):
    return RRset(name, rtype, ttl, values)


def test_lines_split_on_newlines_outside_parentheses_and_quotes():
    text = '; c\nwww IN TXT "a;b" ; tail\n@ IN SOA a. b. ( 1 2\n  3 4 5 ) ; x\n\n'
    es = entries(text)
    assert [e.line for e in es] == [1, 2, 3, 5]
    assert es[0].tokens == ()
    assert [t.text for t in es[1].tokens] == ["www", "IN", "TXT", '"a;b"']
    assert [t.text for t in es[2].tokens][-5:] == ["1", "2", "3", "4", "5"]
    with pytest.raises(ZoneSyntaxError, match="never closed"):
        entries("@ IN SOA a. b. ( 1 2 3 4 5\n")


def test_the_line_map_finds_what_dnspython_loads(tmp_path):
    (tmp_path / "hosts.inc").write_text("www IN A 192.0.2.80\n\tIN AAAA 2001:db8::80\n")
    text = HAND + "$ORIGIN t.example.\n$INCLUDE hosts.inc\n$GENERATE 1-3 h$ A 192.0.2.$\n"
    zmap = scan(tmp_path / "t.example.zone", ORIGIN, text)
    mapped = {}
    for r in zmap.records:
        mapped.setdefault(r.key, set()).add((r.ttl, RRset(*r.key, r.ttl, (r.value(),)).values[0]))
    loaded = load_zone(tmp_path / "t.example.zone", ORIGIN, text)
    want = {}
    for (name, rtype), (ttl, values) in rrsets_of(loaded).items():
        want[(name, rtype)] = {(ttl, RRset(name, rtype, ttl, (v,)).values[0]) for v in values}
    assert {k: v for k, v in mapped.items() if k[1] != "SOA"} == want
    where = {r.key: (r.file.name, r.line, r.editable) for r in zmap.records}
    assert where[("www.t.example.", "AAAA")] == ("hosts.inc", 2, False)
    assert where[("h2.t.example.", "A")] == ("t.example.zone", 20, False)
    assert where[("mail.t.example.", "TXT")] == ("t.example.zone", 14, True)
    assert where[("host.sub.t.example.", "A")] == ("t.example.zone", 17, True)


def test_a_ttl_change_rewrites_the_ttl_field_and_comes_back_byte_identical(tmp_path):
    mx = rr(ORIGIN, "MX", 300, "10 mail.t.example.", "20 backup.t.example.")
    dmarc = rr("_dmarc." + ORIGIN, "TXT", 300, '"v=DMARC1; p=none"')
    mail = rr("mail." + ORIGIN, "A", 3600, "192.0.2.25")
    low = [(mx.key, mx.with_ttl(5)), (dmarc.key, dmarc.with_ttl(5)), (mail.key, mail.with_ttl(5))]
    text, serial = edit(tmp_path, HAND, low)
    assert serial == 42
    assert "\t5\tIN\tMX\t10 mail        ; primary\n\t5\tIN\tMX\t20 backup\n" in text
    assert "_dmarc\t5\tIN\tTXT" in text and "mail\t5\tIN\tA" in text
    state = zone(text)
    assert state[(ORIGIN, "MX")][0] == 5 and state[("mail." + ORIGIN, "A")][0] == 5
    assert state[("mail." + ORIGIN, "TXT")][0] == 300  # inherits the owner, not the TTL
    back, serial = edit(
        tmp_path, text, [(k, {mx.key: mx, dmarc.key: dmarc, mail.key: mail}[k]) for k, _ in low]
    )
    assert serial == 43
    assert masked(back, 43) == masked(HAND, 41)


def test_a_replaced_value_takes_the_old_line_and_gives_it_back(tmp_path):
    spf_old = rr(ORIGIN, "TXT", 300, '"v=spf1 mx -all"', '"note; with a semicolon"')
    spf_new = rr(
        ORIGIN,
        "TXT",
        300,
        '"v=spf1 mx include:spf.example.net -all"',
        '"note; with a semicolon"',
        '"MS=ms1"',
    )
    text, _ = edit(tmp_path, HAND, [(spf_old.key, spf_new)])
    lines = text.splitlines()
    assert lines[9] == '\tIN\tTXT\t"v=spf1 mx include:spf.example.net -all"'
    assert lines[10] == '\tIN\tTXT\t"note; with a semicolon" ; and a comment'
    assert lines[11] == '\tIN\tTXT\t"MS=ms1"'  # after the RRset, in its layout, owner inherited
    assert zone(text)[(ORIGIN, "TXT")][1] == sorted(
        ['"v=spf1 mx include:spf.example.net -all"', '"note; with a semicolon"', '"MS=ms1"']
    )
    back, _ = edit(tmp_path, text, [(spf_old.key, spf_old)])
    assert masked(back, 43) == masked(HAND, 41)


def test_mx_replaced_keeps_its_comment_and_rollback_restores_both_lines(tmp_path):
    old = rr(ORIGIN, "MX", 300, "10 mail.t.example.", "20 backup.t.example.")
    new = rr(ORIGIN, "MX", 300, "0 t-example.mail.protection.outlook.com.")
    text, _ = edit(tmp_path, HAND, [(old.key, new)])
    assert "\tIN\tMX\t0 t-example.mail.protection.outlook.com.        ; primary\n\tIN\tTXT" in text
    assert "backup" not in text
    back, _ = edit(tmp_path, text, [(old.key, old)])
    assert masked(back, 43) == masked(HAND, 41)  # relative targets, as the file writes them


def test_new_rrsets_go_after_their_owner_or_at_the_end_in_the_file_style(tmp_path):
    auto = rr("autodiscover." + ORIGIN, "CNAME", 300, "autodiscover.outlook.com.")
    mailtxt = rr("mail." + ORIGIN, "TXT", 300, '"mailhost"', '"second"')
    mx2 = rr("mail." + ORIGIN, "MX", 60, "10 mail.t.example.")
    changes = [(auto.key, auto), (mailtxt.key, mailtxt), (mx2.key, mx2)]
    text, _ = edit(tmp_path, HAND, changes)
    assert text.startswith(HAND.split("_dmarc")[0].replace("\t\t\t41", "\t\t\t42")[: -len("\n")])
    assert '\tIN\tTXT\t"mailhost"\n\tIN\tTXT\t"second"\n\t60\tIN\tMX\t10 mail\n_dmarc' in text
    # at the end the origin is sub.t.example.: the name is written absolute
    assert text.endswith(
        "host\tIN\tA\t192.0.2.9\nautodiscover.t.example.\tIN\tCNAME\tautodiscover.outlook.com.\n"
    )
    state = zone(text)
    assert state[auto.key] == (300, ["autodiscover.outlook.com."])
    assert state[mx2.key] == (60, ["10 mail.t.example."])
    back, _ = edit(
        tmp_path,
        text,
        [(auto.key, None), (mailtxt.key, rr(*mailtxt.key, 300, '"mailhost"')), (mx2.key, None)],
    )
    assert masked(back, 43) == masked(HAND, 41)


def test_deleting_the_line_that_names_an_owner_writes_it_on_the_next(tmp_path):
    a = rr("mail." + ORIGIN, "A", 3600, "192.0.2.25")
    text, _ = edit(tmp_path, HAND, [(a.key, None)])
    assert '\nmail\tIN\tTXT\t"mailhost"\n' in text and "192.0.2.25" not in text
    state = zone(text)
    assert a.key not in state and state[("mail." + ORIGIN, "TXT")] == (300, ['"mailhost"'])
    before = zone(HAND)
    del before[a.key]
    assert state == before


def test_crlf_files_stay_crlf_and_the_serial_wraps_upwards(tmp_path):
    text = HAND.replace("41 ; serial", "4294967295 ; serial").replace("\n", "\r\n")
    dmarc = rr("_dmarc." + ORIGIN, "TXT", 300, '"v=DMARC1; p=none"', '"v=other"')
    out, serial = edit(tmp_path, text, [(dmarc.key, dmarc)])
    assert serial == 0  # RFC 1982: 0 follows 4294967295
    assert (
        "\n" not in out.replace("\r\n", "")
        and '_dmarc\tIN\tTXT\t"v=DMARC1; p=none"\r\n_dmarc\tIN\tTXT\t"v=other"\r\n' in out
    )


def test_a_managed_rrset_from_include_or_generate_is_refused_with_file_and_line(tmp_path):
    (tmp_path / "mail.inc").write_text('; mail records\n_dmarc IN TXT "v=DMARC1; p=none"\n')
    text = HAND.replace('_dmarc\tIN\tTXT\t"v=DMARC1; p=none"\n', "$INCLUDE mail.inc\n")
    dmarc = rr("_dmarc." + ORIGIN, "TXT", 300, '"v=DMARC1; p=reject"')
    with pytest.raises(
        ProviderError,
        match=r"_dmarc\.t\.example\. TXT comes from an \$INCLUDEd file \(.*mail\.inc:2\)",
    ):
        edit(tmp_path, text, [(dmarc.key, dmarc)])
    text = HAND + "$GENERATE 1-2 selector$._domainkey.t.example. CNAME old$.example.net.\n"
    sel = rr("selector1._domainkey." + ORIGIN, "CNAME", 300, "new.example.net.")
    with pytest.raises(
        ProviderError, match=r"a \$GENERATE line \(.*t\.example\.zone:18 \(\$GENERATE\)\)"
    ) as exc:
        edit(tmp_path, text, [(sel.key, sel)])
    assert exc.value.exit_code == 3 and exc.value.nothing_written


def _provider(tmp_path):
    env = SimpleNamespace(root=tmp_path, provider=SimpleNamespace(options={"directory": "."}))
    return ZoneFileProvider(env)


def test_an_edit_that_would_change_another_rrset_is_refused_and_nothing_is_written(tmp_path):
    # No $TTL: a line without a TTL takes the TTL of the line above (RFC 1035), so lowering the
    # A record's TTL would silently lower the TXT's too. The read-back check catches it.
    text = '$ORIGIN t.example.\n@ 60 IN SOA ns1 hostmaster 7 3600 600 604800 60\n@ 60 IN NS ns1\nns1 60 IN A 192.0.2.1\nwww 600 IN A 192.0.2.80\n    IN TXT "same ttl as above"\n'
    path = tmp_path / "t.example.zone"
    path.write_text(text)
    a = rr("www." + ORIGIN, "A", 600, "192.0.2.80")
    plan = Plan(ORIGIN, [Change(a, a.with_ttl(30))])
    with pytest.raises(
        ProviderError, match="would not give what the plan says .*www.t.example. TXT.*explicit TTLs"
    ):
        _provider(tmp_path).apply(ORIGIN, plan)
    assert path.read_text() == text


def test_the_provider_reads_includes_next_to_the_zone_file_and_keeps_the_mode(
    tmp_path, monkeypatch
):
    (tmp_path / "hosts.inc").write_text("www IN A 192.0.2.80\n")
    path = tmp_path / "t.example.zone"
    path.write_text(HAND.replace("$ORIGIN sub", "$INCLUDE hosts.inc\n$ORIGIN sub"))
    path.chmod(0o640)
    monkeypatch.chdir("/")
    p = _provider(tmp_path)
    assert [r.values for r in p.read(ORIGIN, ["www." + ORIGIN])] == [("192.0.2.80",)]
    www = rr("www." + ORIGIN, "TXT", 300, '"x"')
    p.apply(ORIGIN, Plan(ORIGIN, [Change(None, www)]))
    assert path.stat().st_mode & 0o777 == 0o640
    monkeypatch.chdir(tmp_path)  # dnspython opens $INCLUDE relative to the working directory
    state = rrsets_of(dns.zone.from_file(str(path), origin=ORIGIN, relativize=False))
    assert state[www.key] == (300, ['"x"']) and state[("www." + ORIGIN, "A")] == (
        300,
        ["192.0.2.80"],
    )


KEPT = HAND.replace(
    '_dmarc\tIN\tTXT\t"v=DMARC1; p=none"\n',
    '; the policy, in parentheses\n_dmarc\t1h\tIN\tTXT\t( "v=DMARC1;"\n\t\t" p=none" ) ; ours\n',
)


def test_a_deleted_rrset_kept_as_text_comes_back_in_its_place_byte_for_byte(tmp_path):
    """A finalize deletes _dmarc; its rollback, given the text the snapshot kept, writes the
    lines back where they were (after the comment), TTL units, parentheses and comment too."""
    path = tmp_path / "t.example.zone"
    path.write_text(KEPT)
    p = _provider(tmp_path)
    (dmarc,) = p.read(ORIGIN, ["_dmarc." + ORIGIN])
    kept = p.source_text(ORIGIN, [dmarc])
    assert [item["key"] for item in kept] == [list(dmarc.key)]
    first = p.apply(ORIGIN, Plan(ORIGIN, [Change(dmarc, None)]))
    assert "DMARC1" not in path.read_text() and "; the policy, in parentheses" in path.read_text()
    back = Plan(ORIGIN, [Change(None, dmarc)], sources={dmarc.key: kept[0]})
    second = p.apply(ORIGIN, back)
    assert int(second.id) == int(first.id) + 1
    assert masked(path.read_text(), int(second.id)) == masked(KEPT, 41)


def test_a_kept_text_whose_neighbour_is_gone_falls_back_to_the_plain_insert(tmp_path):
    """The record the text followed ("mailhost") was deleted too and stays deleted: the RRset is
    written back the plain way, with the right data; and a text for another RRset than the one
    written (a TTL changed since) is not used either."""
    path = tmp_path / "t.example.zone"
    path.write_text(KEPT)
    p = _provider(tmp_path)
    (dmarc,) = p.read(ORIGIN, ["_dmarc." + ORIGIN])
    mailhost = rr("mail." + ORIGIN, "TXT", 300, '"mailhost"')
    kept = {tuple(i["key"]): i for i in p.source_text(ORIGIN, [dmarc, mailhost])}
    p.apply(ORIGIN, Plan(ORIGIN, [Change(mailhost, None), Change(dmarc, None)]))
    p.apply(ORIGIN, Plan(ORIGIN, [Change(None, dmarc)], sources=kept))
    text = path.read_text()
    assert '( "v=DMARC1;"' not in text and '"mailhost"' not in text
    assert zone(text)[dmarc.key] == (3600, sorted(dmarc.values))
    p.apply(ORIGIN, Plan(ORIGIN, [Change(dmarc, None)]))
    other = dmarc.with_ttl(60)
    p.apply(ORIGIN, Plan(ORIGIN, [Change(None, mailhost), Change(None, other)], sources=kept))
    text = path.read_text()
    assert '( "v=DMARC1;"' not in text and '\tIN\tTXT\t"mailhost"\n' in text
    assert zone(text)[dmarc.key] == (60, sorted(dmarc.values))


POOL = {
    (ORIGIN, "MX"): ["10 mail.t.example.", "20 backup.t.example.", "0 mx.example.net."],
    (ORIGIN, "TXT"): ['"v=spf1 mx -all"', '"note; with a semicolon"', '"MS=ms1"', '"a" "b;c"'],
    ("_dmarc." + ORIGIN, "TXT"): ['"v=DMARC1; p=none"', '"v=DMARC1; p=reject"'],
    ("mail." + ORIGIN, "A"): ["192.0.2.25", "192.0.2.26"],
    ("mail." + ORIGIN, "TXT"): ['"mailhost"', '"other"'],
    ("new." + ORIGIN, "CNAME"): ["mail.t.example.", "target.example.net."],
    ("host.sub." + ORIGIN, "A"): ["192.0.2.9", "192.0.2.10"],
    ("_smtp._tls." + ORIGIN, "TXT"): ['"v=TLSRPTv1; rua=mailto:t@t.example"'],
}


FLAT = """\
$ORIGIN t.example.
$TTL 300
@ IN 3600 SOA ns1.t.example. hostmaster.t.example. 41 3600 600 604800 60
@ IN 3600 NS ns1.t.example.
@ IN 300 MX 10 mail.t.example.
@ IN 300 MX 20 backup.t.example.
@ IN 300 TXT "v=spf1 mx -all"
@ IN 300 TXT "note; with a semicolon"
ns1 IN 300 A 192.0.2.1
; a comment between records
mail IN 3600 A 192.0.2.25
mail IN 300 TXT "mailhost"
_dmarc IN 300 TXT "v=DMARC1; p=none"
host.sub IN 300 A 192.0.2.9
"""


def _rrset_index(text):
    z = dns.zone.from_text(text, origin=ORIGIN, relativize=False)
    return {k: RRset(*k, ttl, values) for k, (ttl, values) in rrsets_of(z).items()}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_edit_reads_back_as_planned_and_ttl_edits_come_back_byte_identical(data):
    tmp_path = Path("/nonexistent")  # no $INCLUDE: the folder is never read
    source = data.draw(st.sampled_from([HAND, FLAT]))
    keys = data.draw(st.lists(st.sampled_from(sorted(POOL)), unique=True, min_size=1))
    changes = []
    for key in keys:
        most = 1 if key[1] == "CNAME" else 3  # a CNAME is a singleton
        values = data.draw(st.lists(st.sampled_from(POOL[key]), unique=True, max_size=most))
        ttl = data.draw(st.sampled_from([5, 60, 300, 3600]))
        changes.append((key, RRset(*key, ttl, values) if values else None))
    text, serial = edit(tmp_path, source, changes)
    expected = _rrset_index(source)
    for key, after in changes:
        expected.pop(key, None)
        if after is not None:
            expected[key] = after
    assert _rrset_index(text) == expected
    assert serial_of(text) == 42
    kept = [ln for ln in source.splitlines() if ln.startswith(("$", ";"))]
    assert [ln for ln in text.splitlines() if ln.startswith(("$", ";"))] == kept
    # TTL-only edits of existing RRsets, undone, give the file back byte for byte
    before = _rrset_index(source)
    ttl_only = [(k, before[k].with_ttl(a.ttl)) for k, a in changes if k in before and a is not None]
    if ttl_only:
        once, _ = edit(tmp_path, source, ttl_only)
        back, _ = edit(tmp_path, once, [(k, before[k]) for k, _ in ttl_only])
        assert masked(back, 43) == masked(source, 41)


def test_include_origin_argument_and_nested_relative_includes(tmp_path):
    (tmp_path / "sub.inc").write_text("host IN A 192.0.2.99\n")
    text = HAND + "$INCLUDE sub.inc other.t.example.\n"
    zmap = scan(tmp_path / "t.example.zone", ORIGIN, text)
    assert ("host.other.t.example.", "A") in {r.key for r in zmap.records}
    assert ("host.other.t.example.", "A") in zone_keys(
        load_zone(tmp_path / "t.example.zone", ORIGIN, text)
    )
    (tmp_path / "sub.inc").write_text("$INCLUDE deeper.inc\n")
    (tmp_path / "deeper.inc").write_text("deep IN A 192.0.2.98\n")
    with pytest.raises(
        ZoneSyntaxError, match=r"sub\.inc:1: a nested \$INCLUDE needs an absolute path"
    ):
        load_zone(tmp_path / "t.example.zone", ORIGIN, text)
    (tmp_path / "sub.inc").write_text(f"$INCLUDE {tmp_path / 'deeper.inc'}\n")
    assert ("deep.other.t.example.", "A") in zone_keys(
        load_zone(tmp_path / "t.example.zone", ORIGIN, text)
    )


def zone_keys(z):
    return set(rrsets_of(z))
