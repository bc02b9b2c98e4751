"""Validate reads plain answers straight from the wire (`cutover/verify/fastwire.py`): on real
Knot and BIND answers it must say exactly what dnspython's parse says (`dnsquery.interpret`),
and hand anything of another shape back to dnspython (None)."""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.resolver
import dns.rrset
import pytest

from cutover.verify import dnsquery, exchange, fastwire

ZONE = """$ORIGIN example.com.
$TTL 300
@ 3600 IN SOA ns1 hostmaster 7 3600 600 604800 120
@ 3600 IN NS ns1
ns1 IN A 127.0.0.1
@ 300 IN MX 10 mx1.example.com.
@ 300 IN MX 20 Mx2.Example.NET.
@ 60 IN TXT "v=spf1 include:_spf.google.com ~all"
@ 60 IN TXT "google-site-verification=abc" "second string"
_dmarc IN TXT "v=DMARC1; p=none; rua=mailto:d@example.com"
key._domainkey IN TXT "v=DKIM1; k=rsa; p={key}" "{key}"
selector1._domainkey 30 IN CNAME selector1-example-com._domainkey.contoso.onmicrosoft.com.
autodiscover IN CNAME autodiscover.outlook.com.
mx1 IN A 192.0.2.1
mx1 IN AAAA 2001:db8::1
*.wild IN TXT "wildcard"
deep.empty.nonterminal IN A 192.0.2.9
"""
QUESTIONS = [
    ("example.com.", "MX"),
    ("EXAMPLE.com.", "TXT"),
    ("example.com.", "SOA"),
    ("example.com.", "NS"),
    ("_dmarc.example.com.", "TXT"),
    ("key._domainkey.example.com.", "TXT"),
    ("selector1._domainkey.example.com.", "CNAME"),
    ("selector1._domainkey.example.com.", "TXT"),  # the CNAME, not the type asked
    ("autodiscover.example.com.", "CNAME"),
    ("mx1.example.com.", "A"),
    ("mx1.example.com.", "AAAA"),
    ("mx1.example.com.", "TXT"),  # NODATA: SOA in the authority section
    ("nothere.example.com.", "TXT"),  # NXDOMAIN
    ("empty.nonterminal.example.com.", "A"),  # an empty non-terminal: NODATA
    ("x.wild.example.com.", "TXT"),  # synthesized from the wildcard
    ("example.org.", "TXT"),  # not served: REFUSED (or NOTAUTH)
]


@pytest.mark.parametrize("kind", ["knot", "bind"])
def test_the_wire_says_what_dnspython_says(kind, knot_factory, bind_factory):
    factory = knot_factory if kind == "knot" else bind_factory
    srv = factory({"example.com": ZONE.format(key="A" * 200)})
    host, port = srv.address.rsplit(":", 1)
    fast_seen = 0
    for name, rtype in QUESTIONS:
        qname, rdtype, wire = exchange.query(name, rtype, False)
        data = dns.query.udp(dns.message.from_wire(wire), host, port=int(port), timeout=2).to_wire()
        resp = dns.message.from_wire(data)
        read = fastwire.read(data, qname, rdtype)
        slow = dnsquery.interpret(resp, name, rtype, recursive=False)
        if read is None:
            continue
        fast_seen += 1
        assert read.rcode == resp.rcode() and read.flags == resp.flags, (name, rtype)
        fast = dnsquery._interpret(read.rcode, read.flags, False, name, rtype, read)
        assert fast == slow, (name, rtype)
    assert fast_seen >= len(QUESTIONS) - 2  # the common shape is the common case


def _response(*answer: str, authority: tuple[str, ...] = (), additional: tuple[str, ...] = ()):
    q = dns.message.make_query("example.com.", "MX", use_edns=0, payload=1232)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    for section, texts in (
        (r.answer, answer),
        (r.authority, authority),
        (r.additional, additional),
    ):
        for text in texts:
            name, ttl, rtype, value = text.split(" ", 3)
            section.append(dns.rrset.from_text(name, int(ttl), "IN", rtype, value))
    return q, r


def _read(r: dns.message.Message, **kw):
    return fastwire.read(r.to_wire(**kw), exchange.name("example.com."), 15)


def test_a_compressed_answer_reads_like_dnspython():
    _, r = _response(
        "example.com. 300 MX 10 mx.example.com.", "Example.COM. 200 MX 20 mx2.example.com."
    )
    got = _read(r)
    assert got is not None and got.ttl == 200  # the smallest TTL of the RRset, as dnspython
    assert sorted(got.values) == ["10 mx.example.com.", "20 mx2.example.com."]
    assert got.rcode == 0 and got.flags & dns.flags.AA


def test_anything_unusual_goes_back_to_dnspython():
    _, r = _response("example.com. 300 MX 10 mx.example.com.")
    r.answer.append(dns.rrset.from_text("example.com.", 300, "CH", "TXT", '"chaos"'))
    assert _read(r) is None  # a record outside class IN
    _, r = _response("example.com. 300 MX 10 mx.example.com.")
    r.flags |= dns.flags.TC
    assert _read(r) is None  # truncated: TCP, through dnspython
    data = r.to_wire()
    r.flags &= ~dns.flags.TC
    assert fastwire.read(r.to_wire() + b"\0", exchange.name("example.com."), 15) is None  # junk
    assert fastwire.read(data[:-3], exchange.name("example.com."), 15) is None  # cut short
    assert fastwire.read(r.to_wire(), exchange.name("example.org."), 15) is None  # not our question
    r.set_rcode(16)  # BADVERS: the extended rcode lives in the OPT record
    got = _read(r)
    assert got is not None and got.rcode == 16 == r.rcode()


@pytest.mark.parametrize(
    "answer, authority, rcode",
    [
        (
            (),
            ("example.com. 3600 SOA ns1.example.com. host.example.com. 1 3600 600 604800 120",),
            0,
        ),  # NODATA
        (
            (),
            ("example.com. 60 SOA ns1.example.com. host.example.com. 1 3600 600 604800 300",),
            3,
        ),  # NXDOMAIN
        ((), ("example.com. 60 NS ns1.example.com.",), 0),  # no SOA: no negative TTL
        (("example.com. 300 MX 10 a.example.com.", "example.com. 90 MX 20 b.example.com."), (), 0),
        (("example.com. 300 CNAME other.example.net.",), (), 0),  # not the type asked
        (("example.com. 300 MX 10 a.example.com.",), (), 2),  # SERVFAIL
        (("example.com. 300 MX 10 a.example.com.",), (), 5),  # REFUSED
    ],
)
def test_crafted_answers_read_like_dnspython(answer, authority, rcode):
    _, r = _response(*answer, authority=authority)
    r.set_rcode(rcode)
    for aa in (True, False):
        if not aa:
            r.flags &= ~dns.flags.AA
        read = _read(r)
        assert read is not None
        slow = dnsquery.interpret(dns.message.from_wire(r.to_wire()), "example.com.", "MX", False)
        fast = dnsquery._interpret(read.rcode, read.flags, False, "example.com.", "MX", read)
        assert fast == slow


# ---------------------------------------------------------------- lint's recursive answers


def _dnspython_view(data: bytes, name: str, rtype: str):
    """(values at the end of the chain or None, CNAME values at the name, NXDOMAIN) as the
    lint read them through dnspython's Answer before fastwire."""
    resp = dns.message.from_wire(data)
    qname = exchange.name(name)
    cname = [rd.to_text() for r in resp.answer if r.rdtype == 5 and r.name == qname for rd in r]
    if resp.rcode() == 3:
        dns.resolver.Answer(qname, dns.rdatatype.ANY, 1, resp)  # raises as the resolver would
        return None, cname, True
    answer = dns.resolver.Answer(qname, dns.rdatatype.from_text(rtype), 1, resp)
    values = [rd.to_text() for rd in answer.rrset] if answer.rrset is not None else None
    return values, cname, False


def _lean_view(data: bytes, name: str, rtype: str):
    reply = fastwire.read_reply(data, exchange.name(name), dns.rdatatype.from_text(rtype))
    if reply is None:
        return None
    values = [rd.to_text() for rd in reply.rdatas] if reply.rdatas is not None else None
    return values, [rd.to_text() for rd in reply.cname], reply.nxdomain


def _chain(rtype: str, rcode: int, *answer: str) -> bytes:
    q = dns.message.make_query("a.example.com.", rtype, use_edns=0, payload=1232)
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for text in answer:
        name, ttl, t, value = text.split(" ", 3)
        r.answer.append(dns.rrset.from_text(name, int(ttl), "IN", t, value))
    return r.to_wire()


@pytest.mark.parametrize(
    "rtype, rcode, answer",
    [
        ("TXT", 0, ('a.example.com. 60 TXT "v=spf1 -all"', 'a.example.com. 60 TXT "x" "y"')),
        ("TXT", 0, ()),  # NODATA
        ("TXT", 3, ()),  # NXDOMAIN
        ("TXT", 0, ("a.example.com. 60 CNAME B.example.net.", 'b.example.net. 60 TXT "key"')),
        ("A", 0, ("A.example.com. 60 CNAME b.example.net.", "b.example.net. 60 CNAME c.example.org.",
                  "c.example.org. 60 A 192.0.2.1", "c.example.org. 60 A 192.0.2.2")),
        ("A", 3, ("a.example.com. 60 CNAME gone.example.net.",)),  # a CNAME to nothing
        ("A", 0, ("a.example.com. 60 CNAME b.example.net.",)),  # the chain ends in NODATA
        ("CNAME", 0, ("a.example.com. 60 CNAME b.example.net.",)),
        ("MX", 0, ("a.example.com. 60 MX 10 mx.example.com.", "a.example.com. 60 MX 0 .")),
        ("A", 0, ("b.example.net. 60 A 192.0.2.9",)),  # a record of another name only
    ],
)  # fmt: skip
def test_a_recursive_answer_reads_like_dnspythons_answer(rtype, rcode, answer):
    data = _chain(rtype, rcode, *answer)
    assert _lean_view(data, "a.example.com.", rtype) == _dnspython_view(
        data, "a.example.com.", rtype
    )


def test_what_dnspython_refuses_is_left_to_it():
    loop = [f"n{i}.example.com. 60 CNAME n{i + 1}.example.com." for i in range(20)]
    data = _chain("A", 0, "a.example.com. 60 CNAME n0.example.com.", *loop)
    assert _lean_view(data, "a.example.com.", "A") is None  # too long: dnspython's ChainTooLong
    with pytest.raises(dns.message.ChainTooLong):
        _dnspython_view(data, "a.example.com.", "A")
    data = _chain("A", 3, "a.example.com. 60 A 192.0.2.1")
    assert _lean_view(data, "a.example.com.", "A") is None  # NXDOMAIN with an answer
    with pytest.raises(dns.message.AnswerForNXDOMAIN):
        _dnspython_view(data, "a.example.com.", "A")
    assert _lean_view(_chain("A", 2), "a.example.com.", "A") is None  # SERVFAIL: not a Reply


def test_names_dnspython_rejects_are_left_to_it():
    _, r = _response("example.com. 300 MX 10 mx.example.com.")
    good = r.to_wire()
    question_end = 12 + len(b"\x07example\x03com\x00") + 4
    assert good[question_end : question_end + 2] == b"\xc0\x0c"  # the answer's owner: a pointer
    too_long = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"  # 257 bytes
    data = good[:question_end] + too_long + good[question_end + 2 :]
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(data)
    assert fastwire.read(data, exchange.name("example.com."), 15) is None
    forward = good[:question_end] + b"\xc0\xff" + good[question_end + 2 :]  # a forward pointer
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(forward)
    assert fastwire.read(forward, exchange.name("example.com."), 15) is None
