"""Asking one DNS server one question, asynchronously, and saying exactly what came back.

Validation must tell a lame server (REFUSED), a server that is not authoritative (no AA bit), a
SERVFAIL and a timeout apart from a wrong answer: each calls for a different fix. So a query
never raises; it returns an `Answer` whose `problem` names what went wrong, if anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from ..addresses import format_address, is_ip, parse_address
from ..records import RRset
from . import exchange, fastwire
from .exchange import EDNS_PAYLOAD

__all__ = ["EDNS_PAYLOAD", "Answer", "ask", "interpret"]

#: problems, in the words findings use
TIMEOUT, REFUSED, SERVFAIL, NOT_AUTHORITATIVE, UNREACHABLE = (
    "TIMEOUT",
    "REFUSED",
    "SERVFAIL",
    "NOT_AUTHORITATIVE",
    "UNREACHABLE",
)


@dataclass(frozen=True)
class Answer:
    """What one server said about one name+type."""

    rrset: RRset | None = None
    problem: str | None = None
    detail: str = ""
    negative_ttl: int | None = None  # NXDOMAIN/NODATA: how long a resolver may cache the absence

    @property
    def answered(self) -> bool:
        return self.problem not in (TIMEOUT, UNREACHABLE)


async def ask(
    server: str,
    name: str,
    rtype: str,
    *,
    recursive: bool = False,
    timeout: float = 2.0,
    retries: int = 2,
) -> Answer:
    """Query `server` ("host:port", host an IP) directly; retry timeouts; TCP when truncated."""
    host, port = parse_address(server)
    # EDNS with a 1232-byte payload (`exchange.EDNS_PAYLOAD`); one connected UDP socket serves
    # many queries to the same server (`exchange.Channel`), so a closed port's ICMP "port
    # unreachable" raises ConnectionRefusedError at once (UNREACHABLE), where an unconnected
    # socket never sees it and waits out the timeout (TIMEOUT would send the user looking for a
    # firewall)
    last = Answer(problem=TIMEOUT, detail=f"no answer in {timeout:g}s ({retries + 1} tries)")
    for _ in range(retries + 1):
        try:
            data = await exchange.udp_wire(name, rtype, host, port, timeout, recursive=recursive)
            qname, rdtype, _ = exchange.query(name, rtype, recursive)
            fast = fastwire.read(data, qname, rdtype)
            if fast is not None:
                return _interpret(fast.rcode, fast.flags, recursive, name, rtype, fast)
            resp = exchange.parse(data, name, rtype, recursive)
            if resp.flags & dns.flags.TC:
                resp = await exchange.tcp(name, rtype, host, port, timeout, recursive=recursive)
        except dns.exception.Timeout:
            continue
        except OSError as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            detail = "connection refused: nothing listens on that port" if refused else str(exc)
            last = Answer(problem=UNREACHABLE, detail=detail)
            await asyncio.sleep(0.05)
            continue
        except dns.exception.DNSException as exc:
            return Answer(problem=SERVFAIL, detail=f"bad response: {exc}")
        return interpret(resp, name, rtype, recursive)
    return last


_name = exchange.name


def interpret(resp: dns.message.Message, name: str, rtype: str, recursive: bool) -> Answer:
    return _interpret(resp.rcode(), resp.flags, recursive, name, rtype, resp)


def _interpret(
    rcode: int,
    flags: int,
    recursive: bool,
    name: str,
    rtype: str,
    resp: dns.message.Message | fastwire.Read,
) -> Answer:
    """The Answer for a response, parsed by dnspython (`resp` a Message) or read straight from
    the wire (`fastwire.Read`): the same verdicts from the same parts of the response."""
    if rcode == dns.rcode.REFUSED:
        return Answer(problem=REFUSED, detail="REFUSED (lame: the server does not serve the zone)")
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return Answer(problem=SERVFAIL, detail=dns.rcode.to_text(rcode))
    if not recursive and not flags & dns.flags.AA:
        return Answer(problem=NOT_AUTHORITATIVE, detail="answer without the AA bit")
    if isinstance(resp, fastwire.Read):
        if resp.ttl is not None:
            return Answer(rrset=RRset(name, rtype, resp.ttl, resp.values))
        return Answer(negative_ttl=min(resp.soa) if resp.soa else None)
    qname = _name(name)
    rdtype = dns.rdatatype.from_text(rtype)
    for rrset in resp.answer:
        if rrset.rdtype == rdtype and rrset.name == qname:
            values = tuple(rd.to_text() for rd in rrset)
            return Answer(rrset=RRset(name, rtype, rrset.ttl, values))
    soa = [r for r in resp.authority if r.rdtype == dns.rdatatype.SOA]
    negative = min(soa[0].ttl, soa[0][0].minimum) if soa else None
    return Answer(negative_ttl=negative)


async def addresses_of(server: str) -> list[str]:
    """ "host:port" entries with an IP host as they are; a host name becomes every A and AAAA."""
    host, port = parse_address(server)
    if is_ip(host):
        return [format_address(host, port)]
    resolver = dns.asyncresolver.Resolver()
    out: list[str] = []
    for rtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rtype, lifetime=5.0)
        except dns.exception.DNSException:
            continue
        out.extend(format_address(rd.to_text(), port) for rd in answer)
    return out


async def zone_nameservers(zone: str) -> list[str]:
    """The zone's NS names, through the system resolver (when the provider cannot say)."""
    try:
        answer = await dns.asyncresolver.Resolver().resolve(zone, "NS", lifetime=5.0)
    except dns.exception.DNSException:
        return []
    return sorted(rd.target.to_text() for rd in answer)
