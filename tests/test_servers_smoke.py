"""The real servers the other tests rely on start, answer, accept TSIG updates and cache."""

import time

import dns.message
import dns.query
import dns.update

ZONE = """$ORIGIN alpha.example.
$TTL 300
@ SOA ns1.alpha.example. hostmaster.alpha.example. 1 3600 600 604800 300
@ NS ns1.alpha.example.
ns1 A 127.0.0.1
@ 2 MX 10 mx1.old.example.
"""


def _mx(port):
    r = dns.query.udp(
        dns.message.make_query("alpha.example.", "MX"), "127.0.0.1", port=port, timeout=2
    )
    return r.answer[0] if r.answer else None


def test_knot_and_bind_accept_tsig_updates(knot_factory, bind_factory):
    for srv in (knot_factory({"alpha.example": ZONE}), bind_factory({"alpha.example": ZONE})):
        u = dns.update.UpdateMessage(
            "alpha.example.", keyring=srv.keyring, keyname="test-key", keyalgorithm="hmac-sha256"
        )
        u.replace("@", 2, "MX", "10 mx1.new.example.")
        assert dns.query.tcp(u, "127.0.0.1", port=srv.port, timeout=5).rcode() == 0
        assert "mx1.new.example." in _mx(srv.port).to_text(), srv.kind


def test_unbound_caches_then_refreshes(knot_factory, unbound_factory):
    knot = knot_factory({"alpha.example": ZONE})
    res = unbound_factory({"alpha.example": knot.address})
    assert "mx1.old.example." in _mx(res.port).to_text()
    knot.knot_set("alpha.example", "@", 2, "MX", "10 mx1.new.example.")
    assert "mx1.new.example." in _mx(knot.port).to_text()
    assert "mx1.old.example." in _mx(res.port).to_text()  # still cached
    deadline = time.monotonic() + 6
    while "mx1.new.example." not in _mx(res.port).to_text():  # once the 2 s TTL has run out
        assert time.monotonic() < deadline, "unbound kept the old MX past its TTL"
        time.sleep(0.2)
