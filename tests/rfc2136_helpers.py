"""The demo project pointed at a real Knot or BIND through the rfc2136 provider, and read-backs.

The servers load the demo zones (and the stand-in zones, so lint can resolve the names the demo
records point at) from the project copy; the TSIG secret reaches the CLI only through the
environment variable `CUTOVER_TSIG_SECRET`, as a user would pass it.
"""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import dns.update
import dns.zone

from tests.lifecycle_helpers import rrsets_of, write_server_env

SECRET_ENV = "CUTOVER_TSIG_SECRET"
ENV = "rfc"
ZONES = ("example.com", "example.org")


def server_zones(project: Path, zones=ZONES, standins: bool = True) -> dict[str, str]:
    """{zone: zone file text} for the server fixtures: the demo zones and the stand-ins."""
    out = {z: (project / "demo" / "zones" / f"{z}.zone").read_text() for z in zones}
    if standins:
        for path in sorted((project / "demo" / "standins").glob("*.zone")):
            out[path.stem] = path.read_text()
    return out


def write_env(project: Path, srv, name: str = ENV, **provider) -> Path:
    """environments/<name>.yaml: the demo's migration on the rfc2136 provider at `srv`."""
    opts = {
        "type": "rfc2136",
        "server": srv.address,
        "tsig": {"name": srv.key_name, "algorithm": "hmac-sha256", "secret_env": SECRET_ENV},
        "timeout": 5,
        # the demo zones' NS (ns1 A 127.0.0.1, port 53) is not this test server: verify at it
        "nameservers": [srv.address],
    }
    opts.update(provider)
    return write_server_env(project, name, opts, srv.address)


def secret_env(server) -> dict[str, str]:
    return {SECRET_ENV: server.key_secret}


def axfr_state(server, zone: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """Every RRset of the served zone but the SOA, by a signed zone transfer."""
    xfr = dns.query.xfr(
        "127.0.0.1",
        zone + ".",
        port=server.port,
        keyring=server.keyring,
        keyname=server.key_name,
        relativize=False,
        timeout=5,
    )
    return rrsets_of(dns.zone.from_xfr(xfr, relativize=False))


def query(server, name: str, rtype: str) -> tuple[int, list[str]] | None:
    """A plain UDP query: (ttl, sorted values) of the answer at exactly `name`, or None."""
    r = dns.query.udp(dns.message.make_query(name, rtype), "127.0.0.1", port=server.port, timeout=2)
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rtype) and rrset.name.to_text() == name:
            return rrset.ttl, sorted(rd.to_text() for rd in rrset)
    return None


def serial(server, zone: str) -> int:
    r = dns.query.udp(
        dns.message.make_query(zone + ".", "SOA"), "127.0.0.1", port=server.port, timeout=2
    )
    return r.answer[0][0].serial


def serials(server, zones=ZONES) -> dict[str, int]:
    return {z: serial(server, z) for z in zones}


def out_of_band_replace(server, zone: str, owner: str, ttl: int, rtype: str, *values: str) -> None:
    """Another admin's change: knotc on Knot, a signed UPDATE (like nsupdate) on BIND."""
    if server.kind == "knot":
        server.knot_set(zone, owner, ttl, rtype, *values)
        return
    u = dns.update.UpdateMessage(zone + ".", keyring=server.keyring, keyname=server.key_name)
    u.replace(owner, ttl, rtype, *values)
    r = dns.query.tcp(u, "127.0.0.1", port=server.port, timeout=5)
    assert r.rcode() == 0, r
