"""Reading a domain's mail DNS from its authoritative servers, the way `validate` does.

The same server list as validate (`validation.nameservers`, or what the provider names), asked
directly with RD=0 so no cache stands between the audit and the zone. Every address is asked
every question: servers that lag (an old serial) or disagree (another TTL, another MX) are what
a cutover trips over, so their answers are compared and each difference is reported. The
answers shown are the reference server's (the highest SOA serial; the first address on a tie);
T_old takes the largest TTL any server serves.

Wildcards (RFC 4592): a server synthesizes an answer for a name that does not exist from a `*`
record above it, and the answer looks like any other. So beside each name the audit asks a
random sibling (`mailcutover-probe-<hex>.<parent>`): when the sibling gets the same answer, the
name exists only through the wildcard. Each ancestor of a name is asked too, so the report can
say when a new record would turn a missing ancestor into an empty non-terminal that stops the
wildcard answering for its other children (RFC 4592 §2.2.2).

Everything is asked concurrently: about a hundred questions per domain and server.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from ..records import RRset, fqdn
from ..render import STAGES, wants
from ..verify import dnsquery
from ..verify.propagation import _targets
from .selectors import selector_name, selectors_to_probe

QUERY_TIMEOUT = 2.0
RETRIES = 1
CONCURRENCY = 64
PROBE = "mailcutover-probe-"

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

Key = tuple[str, str]


def parent(name: str) -> str:
    return name.split(".", 1)[1]


def ancestors(name: str, zone: str) -> list[str]:
    """The names between `name` and the zone apex, nearest first (both ends excluded)."""
    out = []
    while name != zone and name.endswith("." + zone):
        name = parent(name)
        if name != zone:
            out.append(name)
    return out


@dataclass
class Inventory:
    """What one domain's authoritative servers serve at every name the audit asked about."""

    domain: str
    zone: str
    servers: list[str] = field(default_factory=list)  # every authoritative address asked
    server: str | None = None  # the reference server: its answers are the ones shown
    problems: list[str] = field(default_factory=list)
    records: dict[Key, RRset] = field(default_factory=dict)  # explicit records (reference)
    wildcard: dict[Key, RRset] = field(default_factory=dict)  # answers only a wildcard gives
    negative_ttl: int | None = None
    selectors: list[str] = field(default_factory=list)  # probed
    serials: dict[str, int | None] = field(default_factory=dict)  # address -> SOA serial
    by_server: dict[str, dict[Key, RRset]] = field(default_factory=dict)  # every answer
    answers: dict[Key, RRset | None] = field(default_factory=dict)  # reference, with probes
    probe_label: str = ""

    @property
    def answered(self) -> bool:
        return self.server is not None

    def get(self, name: str, rtype: str) -> RRset | None:
        return self.records.get((fqdn(name, self.zone), rtype))

    @property
    def soa(self) -> RRset | None:
        return self.get("@", "SOA")

    def max_ttl(self, key: Key) -> int | None:
        """The largest TTL any server serves at name/type (what resolvers may hold)."""
        ttls = [srv[key].ttl for srv in self.by_server.values() if key in srv]
        return max(ttls) if ttls else None

    def disagreements(self) -> list[dict]:
        """Every name/type whose answer (values or TTL) is not the same on every server."""
        out = []
        if len(self.by_server) < 2:
            return out
        keys = sorted({k for srv in self.by_server.values() for k in srv})
        for key in keys:
            if key[1] == "SOA":
                continue  # serials are reported on their own
            seen = {a: srv.get(key) for a, srv in self.by_server.items()}
            shapes = {(rr.ttl, rr.value_keys()) if rr else None for rr in seen.values()}
            if len(shapes) > 1:
                out.append({"name": key[0], "type": key[1], "servers": {
                    a: ({"ttl": rr.ttl, "values": list(rr.values)} if rr else None)
                    for a, rr in seen.items()
                }})  # fmt: skip
        return out

    def sibling(self, name: str) -> str:
        return f"{self.probe_label}.{parent(name)}"

    def same_as_sibling(self, key: Key) -> bool:
        """The answer at name/type is the one a random sibling gets: a wildcard's (or none)."""
        mine = self.answers.get(key)
        other = self.answers.get((self.sibling(key[0]), key[1]))
        if mine is None or other is None:
            return mine is None and other is None
        return mine.value_keys() == other.value_keys()

    def exists(self, name: str) -> bool:
        """Whether `name` exists explicitly (RFC 4592 §2.2: with records or as an empty
        non-terminal), judged from the TXT and CNAME answers against its random sibling's."""
        if name == self.zone:
            return True
        if any(n == name or n.endswith("." + name) for n, _ in self.records):
            return True
        return not all(self.same_as_sibling((name, t)) for t in ("TXT", "CNAME"))


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
            if w.name.startswith("*."):
                continue  # a wildcard owner: asked as itself would only echo it
            out[(w.name, w.type)] = None
            out[(w.name, "CNAME")] = None
    return list(out)


def with_wildcard_probes(questions: list[Key], zone: str, label: str) -> list[Key]:
    """The questions, each name's ancestors, and a random sibling of each name and ancestor."""
    out: dict[Key, None] = dict.fromkeys(questions)
    for name, _rtype in questions:
        if name == zone:
            continue
        for a in ancestors(name, zone):
            for t in ("TXT", "CNAME"):
                out[(a, t)] = None
    for name, rtype in list(out):
        if name != zone:
            out[(f"{label}.{parent(name)}", rtype)] = None
    return list(out)


async def _read_server(
    address: str, questions: list[Key], inv: Inventory, sem: asyncio.Semaphore
) -> dict[Key, RRset | None] | None:
    soa = await dnsquery.ask(address, inv.zone, "SOA", timeout=QUERY_TIMEOUT, retries=RETRIES)
    if soa.problem or soa.rrset is None:
        inv.problems.append(f"{address}: {soa.problem or 'no SOA'} {soa.detail}".strip())
        inv.serials[address] = None
        return None
    inv.serials[address] = int(soa.rrset.values[0].split()[2])

    async def one(name: str, rtype: str) -> tuple[Key, dnsquery.Answer]:
        async with sem:
            answer = await dnsquery.ask(address, name, rtype, timeout=QUERY_TIMEOUT,
                                        retries=RETRIES)  # fmt: skip
        return (name, rtype), answer

    out: dict[Key, RRset | None] = {}
    for key, answer in await asyncio.gather(*(one(n, t) for n, t in questions)):
        if answer.problem:
            inv.problems.append(f"{address}: {key[0]} {key[1]}: {answer.problem} "
                                f"{answer.detail}".strip())  # fmt: skip
        out[key] = answer.rrset
        if answer.rrset is None and answer.negative_ttl is not None and inv.negative_ttl is None:
            inv.negative_ttl = answer.negative_ttl
    return out


async def _read_zone(questions: list[Key], inv: Inventory, sem: asyncio.Semaphore) -> None:
    inv.probe_label = PROBE + secrets.token_hex(4)
    inv.serials = dict.fromkeys(inv.servers)  # in the order configured, whoever answers first
    asked = with_wildcard_probes(questions, inv.zone, inv.probe_label)
    results = await asyncio.gather(*(_read_server(a, asked, inv, sem) for a in inv.servers))
    answered = {a: r for a, r in zip(inv.servers, results, strict=True) if r is not None}
    if not answered:
        return
    # the reference: the newest serial, the first listed address on a tie
    inv.server = max(answered, key=lambda a: (inv.serials[a] or 0, -inv.servers.index(a)))
    inv.answers = answered[inv.server]
    real = set(questions)
    for address, got in answered.items():
        inv.by_server[address] = {k: rr for k, rr in got.items() if rr is not None and k in real}
    for key in questions:
        rr = inv.answers.get(key)
        if rr is None:
            continue
        if key[0] != inv.zone and inv.same_as_sibling(key):
            inv.wildcard[key] = rr
        else:
            inv.records[key] = rr


async def _collect(env, provider, renders: dict[str, object]) -> list[Inventory]:
    zones = sorted(renders)
    targets = await _targets(env, provider, zones, resolvers=False)
    sem = asyncio.Semaphore(CONCURRENCY)
    out = []
    jobs = []
    for zone in zones:
        dr = renders[zone]
        inv = Inventory(domain=dr.domain.name, zone=zone)  # type: ignore[attr-defined]
        inv.servers = [t.address for t in targets if t.zone == zone and t.address]
        inv.selectors = selectors_to_probe(dr)
        if not inv.servers:
            inv.problems.append("no authoritative server to ask (validation.nameservers)")
        jobs.append(_read_zone(probes(env, dr), inv, sem))
        out.append(inv)
    await asyncio.gather(*jobs)
    return out


def collect(env, provider, renders: dict[str, object]) -> list[Inventory]:
    """One Inventory per domain, in zone order. `renders`: {zone: DomainRender}."""
    return asyncio.run(_collect(env, provider, renders))
