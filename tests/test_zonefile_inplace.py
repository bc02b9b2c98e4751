"""A hand-written zone file through the real `cutover` program: edited in place, never rewritten.

The zone has comments, `$TTL`, `$ORIGIN`, a multi-line SOA, an `$INCLUDE` of unmanaged hosts, owners
inherited by indented lines, and TXT values with `;` inside quotes. It is prepared, cut over and
rolled back twice, and must end byte-identical but for a higher SOA serial. Read back with
dnspython's own `dns.zone.from_file` (run from the zone folder, where it looks for `$INCLUDE`).
"""

from __future__ import annotations

import json
import re

import dns.message
import dns.query
import dns.rdatatype
import dns.zone

from cutover.dnsserver import DNSServer
from tests.lifecycle_helpers import fast_demo, journal, rrsets_of

HOSTS = """\
; hosts: not managed by mailcutover
ns1     3600    IN      A       127.0.0.1
www      300    IN      A       192.0.2.10
"""

HAND = """\
; example.com: maintained by hand (and by mailcutover for the mail records)
; Old TTLs are 2 seconds so the demo's TTL gate opens quickly.
$TTL 2 ; seconds
$ORIGIN example.com.
@       3600    IN      SOA     ns1.example.com. hostmaster.example.com. (
                                2026112401 ; serial
                                3600       ; refresh
                                600        ; retry
                                604800     ; expire
                                300 )      ; negative caching

                        IN      NS      ns1

; web and name servers live in their own file
$INCLUDE hosts.inc

; mail
@                       IN      MX      1 smtp.google.com.
                        IN      TXT     "v=spf1 include:_spf.google.com ~all"
                        IN      TXT     "google-site-verification=demo-example-Xy12AbCdEfGh"
                        IN      TXT     "unrelated-service-token=keep-me-exactly" ; not ours; keep
google._domainkey       IN      TXT     ( "{dkim1}"
                                          "{dkim2}" ) ; Google DKIM
_dmarc                  IN      TXT     "v=DMARC1; p=none; rua=mailto:dmarc@example.com"

$ORIGIN _report._dmarc.example.com.
example.org     3600    IN      TXT     "v=DMARC1"
; end of zone
"""


def write_hand_zone(project, hand: str = HAND) -> bytes:
    zones = project / "demo" / "zones"
    demo = dns.zone.from_file(str(zones / "example.com.zone"), "example.com.", relativize=False)
    dkim = b"".join(demo.find_rdataset("google._domainkey.example.com.", "TXT")[0].strings)
    text = hand.replace("{dkim1}", dkim[:200].decode()).replace("{dkim2}", dkim[200:].decode())
    (zones / "hosts.inc").write_text(HOSTS)
    (zones / "example.com.zone").write_text(text)
    return text.encode()


def read(path, origin):
    return dns.zone.from_file(str(path), origin=origin, relativize=False)


def serial(z) -> int:
    return z.get_rdataset(z.origin, dns.rdatatype.SOA)[0].serial


def masked(data: bytes, number: int) -> bytes:
    found = re.findall(rb"\b%d\b" % number, data)
    assert len(found) == 1, f"serial {number} appears {len(found)} times"
    return re.sub(rb"\b%d\b" % number, b"<SERIAL>", data)


def test_hand_written_zone_rolls_back_byte_identical_but_for_a_higher_serial(
    project, cli, monkeypatch
):
    fast_demo(project)
    zones = project / "demo" / "zones"
    com, org = zones / "example.com.zone", zones / "example.org.zone"
    originals = {com: write_hand_zone(project), org: org.read_bytes()}
    monkeypatch.chdir(zones)  # dns.zone.from_file opens $INCLUDE from the working directory
    first = {p: read(p, p.stem + ".") for p in originals}
    serials = {p: [serial(z)] for p, z in first.items()}
    not_mail = [
        ln
        for ln in originals[com].decode().splitlines()
        if ("IN" not in ln or "NS" in ln or "3600" in ln) and "; serial" not in ln
    ]

    for step in (["prepare"], ["cutover", "--wait"], ["rollback"], ["rollback"]):
        r = cli(*step, "--env", "demo", "--yes")
        assert r.returncode == 0, (step, r.stdout, r.stderr)
        for p in originals:
            serials[p].append(serial(read(p, p.stem + ".")))
        text = com.read_text()
        # every line the tool does not own is still there, in order, byte for byte
        assert [ln for ln in text.splitlines() if ln in not_mail] == not_mail, step
        state = rrsets_of(read(com, "example.com."))
        assert state[("www.example.com.", "A")] == (300, ["192.0.2.10"])  # from hosts.inc
        if step == ["prepare"]:
            assert state[("example.com.", "MX")] == (1, ["1 smtp.google.com."])
            assert '"MS=ms11111111"' in state[("example.com.", "TXT")][1]
            assert ("selector1._domainkey.example.com.", "CNAME") in state
            assert (
                '    IN      TXT     "unrelated-service-token=keep-me-exactly" ; not ours; keep\n'
                in text
            )
        if step[0] == "cutover":
            assert state[("example.com.", "MX")] == (
                1,
                ["0 example-com.mail.protection.outlook.com."],
            )
            assert state[("autodiscover.example.com.", "CNAME")] == (
                1,
                ["autodiscover.outlook.com."],
            )

    for p, original in originals.items():
        assert serials[p] == sorted(set(serials[p])), serials[p]  # strictly rising, never back
        final = p.read_bytes()
        assert final != original
        assert masked(final, serials[p][-1]) == masked(original, serials[p][0]), p.name
        assert rrsets_of(read(p, p.stem + ".")) == rrsets_of(first[p])
    with DNSServer([zones]) as srv:  # the embedded server finds hosts.inc next to the zone
        q = dns.message.make_query("www.example.com.", "A")
        answer = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2).answer
        assert [rd.to_text() for rd in answer[0]] == ["192.0.2.10"]


def refused_before_began(project, r, zones, originals: dict) -> None:
    """Refused as bad input (exit 2, one line) when the plan is made: no snapshot, no journal
    line, no lock, every zone file byte-identical (example.org's plan was fine, and it too was
    left alone: every plan is checked before the first write)."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert journal(project) == []
    state = project / ".cutover" / "demo"
    assert not (state / "lock").exists()
    assert not any((state / "snapshots").glob("*"))
    for name, data in originals.items():
        assert (zones / name).read_bytes() == data, name


def test_a_managed_rrset_in_an_included_file_is_refused_naming_file_and_line(project, cli):
    fast_demo(project)
    zones = project / "demo" / "zones"
    dmarc = (
        '_dmarc                  IN      TXT     "v=DMARC1; p=none; rua=mailto:dmarc@example.com"\n'
    )
    original = write_hand_zone(project, HAND.replace(dmarc, "$INCLUDE mail.inc\n"))
    (zones / "mail.inc").write_text("; the DMARC record\n" + dmarc)
    org = (zones / "example.org.zone").read_bytes()
    preview = cli("plan", "--env", "demo")
    assert preview.returncode == 2, (preview.stdout, preview.stderr)
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.stderr == preview.stderr  # the same line, whether previewed or applied
    assert "_dmarc.example.com. TXT comes from an $INCLUDEd file" in r.stderr
    assert f"{zones / 'mail.inc'}:2" in r.stderr
    refused_before_began(project, r, zones, {"example.com.zone": original, "example.org.zone": org})


def test_a_managed_rrset_from_generate_is_refused_naming_file_and_line(project, cli):
    fast_demo(project)
    zones = project / "demo" / "zones"
    gen = "$GENERATE 1-2 selector$._domainkey CNAME old$.example.net.\n"
    original = write_hand_zone(
        project, HAND.replace("; end of zone\n", "$ORIGIN example.com.\n" + gen)
    )
    line = original.decode().splitlines().index(gen.strip()) + 1
    org = (zones / "example.org.zone").read_bytes()
    r = cli("prepare", "--env", "demo", "--yes")
    assert "comes from a $GENERATE line" in r.stderr
    assert f"{zones / 'example.com.zone'}:{line} ($GENERATE)" in r.stderr
    refused_before_began(project, r, zones, {"example.com.zone": original, "example.org.zone": org})


def test_a_finalize_rollback_puts_the_deleted_dkim_lines_back_where_they_were(
    project, cli, monkeypatch
):
    """finalize deletes the old provider's DKIM record (two quoted strings in parentheses, a
    comment); rolling it back writes those exact lines back in their place, not at the end."""
    fast_demo(project)
    com = project / "demo" / "zones" / "example.com.zone"
    write_hand_zone(project)
    for step in (["prepare"], ["cutover", "--wait"]):
        r = cli(*step, "--env", "demo", "--yes")
        assert r.returncode == 0, (step, r.stdout, r.stderr)
    monkeypatch.chdir(com.parent)  # dns.zone.from_file opens $INCLUDE from the working directory
    before, before_serial = com.read_bytes(), serial(read(com, "example.com."))
    r = cli("finalize", "--wait", "--env", "demo", "--yes")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert b"; Google DKIM" not in com.read_bytes()
    (began,) = [e for e in journal(project) if e["event"] == "began" and e["stage"] == "finalize"]
    snap = project / ".cutover" / "demo" / "snapshots" / f"{began['snapshot']}.json"
    kept = json.loads(snap.read_text())["zones"]["example.com."]["source"]
    assert [i["key"] for i in kept] == [["google._domainkey.example.com.", "TXT"]]

    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, (r.stdout, r.stderr)
    after = com.read_bytes()
    assert masked(after, serial(read(com, "example.com."))) == masked(before, before_serial)
