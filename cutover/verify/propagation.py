"""Is the change served? Ask the authoritative servers directly until they all agree.

This first version polls each server synchronously for the RRsets a plan changed; the full
asynchronous validator (resolvers, findings, JSON/JUnit) arrives with the validation issue.
"""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from ..addresses import parse_address
from ..errors import ChecksFailed
from ..records import RRset


def servers_for(env, provider, zone: str) -> list[str]:
    ns = env.validation.nameservers
    if ns == "none":
        return []
    if ns == "auto":
        return provider.nameservers(zone)
    return list(ns)


def query(server: str, name: str, rtype: str, timeout: float = 2.0) -> RRset | None:
    host, port = parse_address(server)
    q = dns.message.make_query(name, rtype)
    q.flags &= ~dns.flags.RD
    resp = dns.query.udp(q, host, port=port, timeout=timeout)
    if resp.flags & dns.flags.TC:
        resp = dns.query.tcp(q, host, port=port, timeout=timeout)
    rdtype = dns.rdatatype.from_text(rtype)
    for rrset in resp.answer:
        if rrset.rdtype == rdtype and rrset.name == dns.name.from_text(name):
            return RRset(name, rtype, rrset.ttl, tuple(rd.to_text() for rd in rrset))
    return None


def wait_served(env, provider, plans, ui, timeout: float | None = None) -> None:
    timeout = env.validation.timeout if timeout is None else timeout
    deadline = time.monotonic() + timeout
    for plan in plans:
        for server in servers_for(env, provider, plan.zone):
            for change in plan.changes:
                while True:
                    try:
                        got = query(server, *change.key)
                    except (OSError, dns.exception.DNSException):
                        got = "unreachable"
                    if got == change.after:
                        break
                    if time.monotonic() > deadline:
                        raise ChecksFailed(
                            f"{plan.zone}: {server} does not serve {change.key[0]} {change.key[1]} "
                            f"as applied after {timeout:.0f}s",
                            "check the server, then run `invoke validate`",
                        )
                    time.sleep(0.2)
