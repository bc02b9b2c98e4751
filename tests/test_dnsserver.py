"""The embedded authoritative server, over real sockets (and `dig`/`kdig` against `serve`)."""

import subprocess
import sys
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from cutover.dnsserver import DNSServer
from tests.conftest import REPO
from tests.servers import free_port

BIG = " ".join(f'"{"k" * 200}{i}"' for i in range(4))  # ~800 bytes of TXT
ZONE = f"""$ORIGIN t.example.
$TTL 60
@ 3600 SOA ns1 hostmaster 1 3600 600 604800 120
@ NS ns1
ns1 A 127.0.0.1
@ MX 10 mail
mail A 192.0.2.25
alias CNAME alias2
alias2 CNAME mail
out CNAME elsewhere.invalid.
big TXT {BIG}
a.b.deep TXT "leaf"
"""


@pytest.fixture
def server(tmp_path):
    (tmp_path / "t.example.zone").write_text(ZONE)
    with DNSServer([tmp_path]) as srv:
        yield srv, tmp_path


def ask(srv, name, rtype, tcp=False):
    q = dns.message.make_query(name, rtype)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, "127.0.0.1", port=srv.port, timeout=2)


def test_answers_are_authoritative(server):
    srv, _ = server
    r = ask(srv, "t.example.", "MX")
    assert r.flags & dns.flags.AA
    assert r.answer[0].to_text().endswith("10 mail.t.example.")


def test_nodata_and_nxdomain_carry_the_soa(server):
    srv, _ = server
    nodata = ask(srv, "mail.t.example.", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    assert nodata.authority[0].ttl == 120  # min(SOA TTL, MINIMUM), RFC 2308
    nx = ask(srv, "nope.t.example.", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
    ent = ask(srv, "b.deep.t.example.", "TXT")  # empty non-terminal: NODATA, not NXDOMAIN
    assert ent.rcode() == dns.rcode.NOERROR and not ent.answer


def test_cname_chain_inside_the_zone_is_followed(server):
    srv, _ = server
    r = ask(srv, "alias.t.example.", "A")
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.CNAME] * 2 + [dns.rdatatype.A]
    out = ask(srv, "out.t.example.", "A")
    assert len(out.answer) == 1 and out.answer[0].rdtype == dns.rdatatype.CNAME


def test_refused_outside_its_zones(server):
    srv, _ = server
    assert ask(srv, "example.net.", "A").rcode() == dns.rcode.REFUSED


def test_long_answer_truncates_over_udp_and_comes_whole_over_tcp(server):
    srv, _ = server
    udp = ask(srv, "big.t.example.", "TXT")
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = ask(srv, "big.t.example.", "TXT", tcp=True)
    assert len(tcp.to_wire()) > 512 and len(tcp.answer[0][0].strings) == 4


def test_zone_file_change_is_served_without_restart(server):
    srv, path = server
    (path / "t.example.zone").write_text(ZONE.replace("10 mail", "20 mail"))
    deadline = time.monotonic() + 5
    while "20 mail" not in ask(srv, "t.example.", "MX").answer[0].to_text():
        assert time.monotonic() < deadline, "new zone file was not picked up"
        time.sleep(0.05)


def test_dig_and_kdig_against_invoke_serve(project):
    zone_file = project / "demo" / "zones" / "example.com.zone"
    zone_file.write_text(zone_file.read_text() + f"big 60 IN TXT {BIG}\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from cutover.cli import main; main()",
            "serve",
            "--env",
            "demo",
            "--port",
            str(port),
        ],
        cwd=project,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "serving" in proc.stdout.readline()

        def dig(*args):
            return subprocess.run(
                ["dig", "@127.0.0.1", "-p", str(port), "+norec", *args],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout

        mx = dig("example.com", "MX")
        assert "flags: qr aa" in mx and "smtp.google.com." in mx
        nodata = dig("www.example.com", "AAAA")
        assert "status: NOERROR" in nodata and "ANSWER: 0" in nodata and "SOA" in nodata
        nx = dig("nope.example.com", "A")
        assert "status: NXDOMAIN" in nx and "SOA" in nx
        truncated = dig("+ignore", "+noedns", "big.example.com", "TXT")
        assert "flags: qr aa tc" in truncated
        kdig = subprocess.run(
            ["kdig", "@127.0.0.1", "-p", str(port), "+tcp", "+norec", "big.example.com", "TXT"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        assert "Flags: qr aa" in kdig and "(TCP)" in kdig
        received = int(kdig.split(";; Received ")[1].split(" B")[0])
        assert received > 512 and "k" * 200 + "3" in kdig
    finally:
        proc.terminate()
        proc.wait(5)


WILD = """$ORIGIN w.example.
$TTL 60
@ 3600 SOA ns1 hostmaster 1 3600 600 604800 120
@ NS ns1
ns1 A 127.0.0.1
mail A 192.0.2.25
*.dev TXT "wild dev"
*.dev A 192.0.2.80
explicit.dev A 192.0.2.81
leaf.sub.ent A 192.0.2.82
*.ent TXT "wild ent"
*.wc CNAME mail
*.w.example. MX 10 mail
google._domainkey TXT "v=DKIM1; p=explicit"
"""

#: (name, type) asked of Knot and of the embedded server: every RFC 4592 case in WILD
WILD_QUESTIONS = [
    ("x.dev.w.example.", "TXT"),  # synthesized from *.dev
    ("a.b.dev.w.example.", "A"),  # deeper: the closest encloser is still dev
    ("x.dev.w.example.", "MX"),  # the wildcard has no MX: NODATA, not NXDOMAIN
    ("explicit.dev.w.example.", "TXT"),  # exists: never synthesized (NODATA)
    ("*.dev.w.example.", "TXT"),  # the wildcard owner asked as itself
    ("sub.ent.w.example.", "TXT"),  # an empty non-terminal: NODATA
    ("x.sub.ent.w.example.", "TXT"),  # below it: no *.sub.ent, NXDOMAIN
    ("other.ent.w.example.", "TXT"),  # beside it: *.ent answers
    ("foo.wc.w.example.", "A"),  # a wildcard CNAME, followed inside the zone
    ("selector1._domainkey.w.example.", "MX"),  # _domainkey exists (ENT): *.w.example stops
    ("nothere.w.example.", "MX"),  # the apex wildcard
    ("nothere.w.example.", "TXT"),  # ... which has no TXT
]


def _shape(resp: dns.message.Message):
    answer = sorted(
        (r.name.to_text(), r.ttl, sorted(rd.to_text() for rd in r)) for r in resp.answer
    )
    return dns.rcode.to_text(resp.rcode()), answer, [r.rdtype for r in resp.authority]


def test_wildcards_are_synthesized_as_knot_does(tmp_path, knot_factory):
    knot = knot_factory({"w.example": WILD})
    (tmp_path / "w.example.zone").write_text(WILD)
    with DNSServer([tmp_path]) as srv:
        for name, rtype in WILD_QUESTIONS:
            q = dns.message.make_query(name, rtype)
            ours = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2)
            theirs = dns.query.udp(q, "127.0.0.1", port=knot.port, timeout=2)
            assert _shape(ours) == _shape(theirs), (name, rtype)
            assert ours.flags & dns.flags.AA
    # and the shapes are the interesting ones, not all NXDOMAIN
    with DNSServer([tmp_path]) as srv:
        got = ask(srv, "x.dev.w.example.", "TXT")
        assert got.answer[0].name.to_text() == "x.dev.w.example."
        assert got.answer[0][0].strings == (b"wild dev",)
        assert ask(srv, "x.sub.ent.w.example.", "TXT").rcode() == dns.rcode.NXDOMAIN
        assert ask(srv, "selector1._domainkey.w.example.", "MX").rcode() == dns.rcode.NXDOMAIN
