"""Reading a domain's mail DNS from its authoritative servers, the way `validate` does.

The same server list as validate (`validation.nameservers`, or what the provider names), asked
directly with RD=0 so no cache stands between the audit and the zone. The first server that
answers the SOA is the one read; the others are listed so the report says which were asked.
Everything is asked concurrently: about a hundred questions per domain (the DKIM probes).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..records import RRset, fqdn
from ..render import STAGES, wants
from ..verify import dnsquery
from ..verify.propagation import _targets
from .selectors import selector_name, selectors_to_probe

QUERY_TIMEOUT = 2.0
RETRIES = 1
CONCURRENCY = 64

#: (relative name, types) every audit asks, besides DKIM selectors and the profiles' names
FIXED_PROBES: list[tuple[str, tuple[str, ...]]] = [
    ("@", ("SOA", "NS", "MX", "TXT", "CNAME", "DNSKEY", "CAA")),
    ("_dmarc", ("TXT", "CNAME")),
    ("_mta-sts", ("TXT", "CNAME")),
    ("mta-sts", ("CNAME", "A", "AAAA")),
    ("_smtp._tls", ("TXT", "CNAME")),
    ("default._bimi", ("TXT", "CNAME")),
    ("autodiscover", ("CNAME", "A", "AAAA")),
    ("_autodiscover._tcp", ("SRV",)),
    ("autoconfig", ("CNAME", "A")),
]


@dataclass
class Inventory:
    """What one domain's authoritative server serves at every name the audit asked about."""

    domain: str
    zone: str
    servers: list[str] = field(default_factory=list)  # every authoritative address asked
    server: str | None = None  # the one whose answers are reported
    problems: list[str] = field(default_factory=list)
    records: dict[tuple[str, str], RRset] = field(default_factory=dict)
    negative_ttl: int | None = None
    selectors: list[str] = field(default_factory=list)  # probed

    @property
    def answered(self) -> bool:
        return self.server is not None

    def get(self, name: str, rtype: str) -> RRset | None:
        return self.records.get((fqdn(name, self.zone), rtype))

    @property
    def soa(self) -> RRset | None:
        return self.get("@", "SOA")


def probes(env, dr) -> list[tuple[str, str]]:
    """Every (absolute name, type) to ask for one domain, in a stable order."""
    zone = fqdn(dr.domain.name)
    out: dict[tuple[str, str], None] = {}
    for rel, types in FIXED_PROBES:
        for t in types:
            out[(fqdn(rel, zone), t)] = None
    for sel in selectors_to_probe(dr):
        for t in ("TXT", "CNAME"):
            out[(selector_name(sel, zone), t)] = None
    for stage in STAGES:  # the names the stages manage, and a CNAME that may sit there instead
        for w in wants(env, dr, stage):
            out[(w.name, w.type)] = None
            out[(w.name, "CNAME")] = None
    return list(out)


async def _read_zone(
    targets: list[str], questions: list[tuple[str, str]], inv: Inventory, sem: asyncio.Semaphore
) -> None:
    for address in targets:
        soa = await dnsquery.ask(address, inv.zone, "SOA", timeout=QUERY_TIMEOUT, retries=RETRIES)
        if soa.problem or soa.rrset is None:
            inv.problems.append(f"{address}: {soa.problem or 'no SOA'} {soa.detail}".strip())
            continue
        inv.server = address
        break
    if inv.server is None:
        return

    async def one(name: str, rtype: str) -> tuple[tuple[str, str], dnsquery.Answer]:
        async with sem:
            answer = await dnsquery.ask(
                inv.server, name, rtype, timeout=QUERY_TIMEOUT, retries=RETRIES
            )
        return (name, rtype), answer

    results = await asyncio.gather(*(one(n, t) for n, t in questions))
    for key, answer in results:
        if answer.problem:
            inv.problems.append(f"{key[0]} {key[1]}: {answer.problem} {answer.detail}".strip())
        elif answer.rrset is not None:
            inv.records[key] = answer.rrset
        elif answer.negative_ttl is not None and inv.negative_ttl is None:
            inv.negative_ttl = answer.negative_ttl


async def _collect(env, provider, renders: dict[str, object]) -> list[Inventory]:
    zones = sorted(renders)
    targets = await _targets(env, provider, zones, resolvers=False)
    sem = asyncio.Semaphore(CONCURRENCY)
    out = []
    jobs = []
    for zone in zones:
        dr = renders[zone]
        inv = Inventory(domain=dr.domain.name, zone=zone)  # type: ignore[attr-defined]
        addrs = [t.address for t in targets if t.zone == zone and t.address]
        inv.servers = addrs
        inv.selectors = selectors_to_probe(dr)
        if not addrs:
            inv.problems.append("no authoritative server to ask (validation.nameservers)")
        jobs.append(_read_zone(addrs, probes(env, dr), inv, sem))
        out.append(inv)
    await asyncio.gather(*jobs)
    return out


def collect(env, provider, renders: dict[str, object]) -> list[Inventory]:
    """One Inventory per domain, in zone order. `renders`: {zone: DomainRender}."""
    return asyncio.run(_collect(env, provider, renders))
