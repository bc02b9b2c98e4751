"""DNS lookups for lint, through `lint.resolvers` only, asked once per run and concurrently.

Lint follows SPF includes, DKIM CNAMEs and MX targets out of the user's zones, so it needs a
resolver; which one is the user's choice (the demo's is the embedded server with its stand-ins).
A resolver that does not answer at all is a provider/network failure (exit 3), found once by a
probe instead of as a hundred confusing findings.

One `Lookup` serves a whole run: 500 zones moving to the same provider share the same
`_spf.google.com` chain and often the same MX hosts, so every outside name is asked once. Before
the checks run, `prefetch` asks every question they will ask, all at once with bounded
concurrency (through `exchange`, answering as dnspython's resolver would), in waves (an SPF
include's answer names the next includes), so a run costs a few round trips, not one per
lookup. The checks then read the answers from the
cache, synchronously, through `values` or through `resolver` (a dnspython resolver answering
from the same cache, which checkdmarc is given). A question the prefetch did not foresee is
asked then, synchronously, and cached too: a miss costs time, never a wrong answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ..addresses import parse_address
from ..errors import ConfigError, ProviderError
from . import exchange, fastwire
from .exchange import EDNS_PAYLOAD
from .wildcards import LABEL as WILDCARD_LABEL

#: questions in flight at once (each is one UDP query to the lint resolver, retried on timeout)
CONCURRENCY = 256
TIMEOUT = 1.0  # per try
LIFETIME = 3.0  # per question
#: include/redirect depth followed ahead of time (RFC 7208 stops at 10 lookups anyway)
MAX_WAVES = 12

T = TypeVar("T")
Key = tuple[str, int]  # (absolute lower-case name, rdatatype)


def lint_addresses(env, provider) -> list[str]:
    out = []
    for addr in env.lint_resolvers:
        if addr == "embedded":
            local = provider.local_resolver()  # the zone-file provider's embedded server
            if local is None:
                raise ConfigError(
                    f"{env.path}: lint.resolvers: `embedded` needs the zonefile provider",
                    "list resolvers as host:port",
                )
            addr = local
        out.append(addr)
    return out


def _key(name: Any, rtype: Any) -> Key:
    if isinstance(name, dns.name.Name):
        return name.to_text().lower(), int(dns.rdatatype.RdataType.make(rtype))
    return _text_key(str(name), rtype if isinstance(rtype, str) else int(rtype))


@lru_cache(maxsize=65536)
def _text_key(name: str, rtype: str | int) -> Key:
    return (
        dns.name.from_text(name).to_text().lower(),
        int(dns.rdatatype.RdataType.make(rtype)),
    )


class CachedResolver(dns.resolver.Resolver):
    """A dnspython resolver whose answers come from the run's cache (filled by `prefetch`);
    a question not in it is resolved as usual, and the answer or the failure is cached."""

    def __init__(self, owner: Lookup, configure: bool) -> None:
        super().__init__(configure=configure)
        self.owner = owner

    def resolve(  # type: ignore[override]
        self,
        qname: Any,
        rdtype: Any = dns.rdatatype.A,
        rdclass: Any = dns.rdataclass.IN,
        tcp: bool = False,
        source: Any = None,
        raise_on_no_answer: bool = True,
        source_port: int = 0,
        lifetime: float | None = None,
        search: bool | None = None,
    ) -> dns.resolver.Answer:
        key = _key(qname, rdtype)
        hit = self.owner.answers.get(key)
        if isinstance(hit, fastwire.Reply):  # read from the wire: the Answer, built now
            hit = self.owner.answers[key] = _resolved(key, hit)
        if hit is None:
            self.owner.misses += 1
            try:
                hit = super().resolve(
                    qname, rdtype, rdclass, tcp, source, False, source_port, lifetime, search
                )
            except dns.exception.DNSException as exc:
                hit = exc
            self.owner.answers[key] = hit
        if isinstance(hit, BaseException):
            raise hit.with_traceback(None)
        if hit.rrset is None and raise_on_no_answer:
            raise dns.resolver.NoAnswer(response=hit.response)
        return hit


class Lookup:
    """The lint resolvers (or the system's when none are configured), with the run's cache."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.nameservers = [
            dns.nameserver.Do53Nameserver(host, port=port)
            for host, port in map(parse_address, addresses)
        ]
        #: (name, type) -> the Answer (rrset None when the name has no such type) or the error;
        #: the prefetch's answers as `fastwire.Reply`, turned into an Answer when one is asked for
        self.answers: dict[Key, fastwire.Reply | dns.resolver.Answer | BaseException] = {}
        self._memo: dict[Any, Any] = {}
        self.prefetched = 0  # questions asked concurrently ahead of the checks
        self.misses = 0  # questions the checks asked that the prefetch had not foreseen
        self.waves = 0
        try:
            self.resolver = CachedResolver(self, configure=not self.nameservers)
        except dns.resolver.NoResolverConfiguration as exc:
            raise ProviderError(
                "lint: no lint.resolvers configured and no system resolver",
                "set lint.resolvers in the environment file",
            ) from exc
        self._configure(self.resolver)

    def _configure(self, resolver: dns.resolver.BaseResolver) -> None:
        if self.nameservers:
            resolver.nameservers = self.nameservers
        resolver.timeout = TIMEOUT
        resolver.lifetime = LIFETIME
        resolver.cache = None
        resolver.use_edns(0, 0, EDNS_PAYLOAD)  # DKIM keys do not fit 512 bytes: no TCP retry

    @property
    def described(self) -> str:
        return ", ".join(self.addresses) or "the system resolver"

    def probe(self, name: str) -> None:
        """Raise ProviderError (exit 3) when no resolver answers anything at all (any reply,
        even REFUSED, shows the resolver is there; what it says is for the checks to judge)."""
        errors = []
        for ns in self.nameservers:
            try:
                dns.query.udp(dns.message.make_query(name, "SOA"), ns.address, port=ns.port,
                              timeout=2.0)  # fmt: skip
                return
            except (OSError, dns.exception.DNSException) as exc:
                errors.append(f"{ns.address}:{ns.port}: {exc or type(exc).__name__}")
        if not self.nameservers:
            try:
                self.resolver.resolve(name, "SOA")
                return
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
                return
            except dns.exception.DNSException as exc:
                errors.append(str(exc))
        raise ProviderError(
            f"lint: no resolver answered (asked {self.described}): {'; '.join(errors)}",
            "check lint.resolvers, or the network",
        )

    # ------------------------------------------------------------------ asking ahead

    def prefetch(self, questions: Iterable[tuple[str, str]]) -> None:
        """Ask every (name, type) not yet cached, concurrently; then what the answers lead to
        (SPF includes and redirects, MX hosts of an `mx` term), wave after wave."""
        todo = {_key(n, t) for n, t in questions} - self.answers.keys()
        if todo:
            asyncio.run(self._prefetch(todo))

    async def prefetch_async(self, questions: Iterable[tuple[str, str]]) -> None:
        """`prefetch` inside a running event loop, e.g. beside validate's own queries."""
        todo = {_key(n, t) for n, t in questions} - self.answers.keys()
        if todo:
            await self._prefetch(todo)

    async def _prefetch(self, todo: set[Key]) -> None:
        sem = asyncio.Semaphore(CONCURRENCY)
        servers = self._servers()

        async def one(key: Key) -> None:
            async with sem:
                got = await self._ask(key, servers)
            if got is not None:  # a timeout, SERVFAIL, refused, a socket error is not cached,
                self.answers[key] = got  # so a check that needs it asks once more, alone

        for _ in range(MAX_WAVES):
            if not todo:
                return
            self.waves += 1
            self.prefetched += len(todo)
            await asyncio.gather(*(one(k) for k in todo))
            follow = set()
            for key in todo:
                follow |= self._follow_ups(key)
            todo = follow - self.answers.keys()

    def _servers(self) -> list[tuple[str, int]]:
        """(host, port) of each resolver: the lint resolvers, or the system's."""
        out = []
        for ns in self.resolver.nameservers:
            if isinstance(ns, str):
                out.append((ns, self.resolver.port))
            elif isinstance(ns, dns.nameserver.Do53Nameserver):
                out.append((ns.address, ns.port))
        return out

    async def _ask(
        self, key: Key, servers: list[tuple[str, int]]
    ) -> fastwire.Reply | dns.resolver.Answer | dns.exception.DNSException | None:
        """What `dns.asyncresolver` would answer (an Answer, rrset None when the name has no
        such type; NXDOMAIN or YXDOMAIN), through `exchange` (its per-query cost is what bounds
        a run of 500 zones); a NOERROR or NXDOMAIN answer of the common shape as a
        `fastwire.Reply` (the same content, read without building dnspython's objects): the same query (RD, EDNS), the servers in order with TIMEOUT per
        try and LIFETIME in all, a server dropped for an rcode other than NOERROR/NXDOMAIN/
        YXDOMAIN or a socket error, the backoff between rounds, TCP when truncated. None when no
        server answered."""
        text, rdtype = key
        qname = exchange.name(text)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIFETIME
        servers = list(servers)
        backoff = 0.1
        while servers:
            for host, port in list(servers):
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    data = await exchange.udp_wire(text, rdtype, host, port, min(TIMEOUT, left),
                                                   recursive=True)  # fmt: skip
                    reply = fastwire.read_reply(data, qname, rdtype)
                    if reply is not None:
                        return reply
                    resp = exchange.parse(data, text, rdtype, True)
                    if resp.flags & dns.flags.TC:
                        resp = await exchange.tcp(text, rdtype, host, port, min(TIMEOUT, left),
                                                  recursive=True)  # fmt: skip
                except (dns.exception.FormError, EOFError, OSError, NotImplementedError):
                    servers.remove((host, port))  # this server is no good
                    continue
                except dns.exception.DNSException:  # a timeout, an answer to something else
                    continue
                rcode = resp.rcode()
                try:
                    if rcode == dns.rcode.NOERROR:
                        return dns.resolver.Answer(
                            qname, rdtype, dns.rdataclass.IN, resp, host, port
                        )
                    if rcode == dns.rcode.NXDOMAIN:
                        dns.resolver.Answer(qname, dns.rdatatype.ANY, dns.rdataclass.IN, resp)
                        return dns.resolver.NXDOMAIN(qnames=[qname], responses={qname: resp})
                except dns.exception.DNSException:  # a broken CNAME chain
                    servers.remove((host, port))
                    continue
                if rcode == dns.rcode.YXDOMAIN:
                    return dns.resolver.YXDOMAIN()
                servers.remove((host, port))  # SERVFAIL, REFUSED, ...
            left = deadline - loop.time()
            if servers and left > 0:
                await asyncio.sleep(min(backoff, left))
                backoff = min(backoff * 2, 2)
        return None

    def _rdatas(self, key: Key) -> tuple[Any, ...] | None:
        """The cached records at `key` (CNAMEs followed); None when there are none or the
        answer is not cached."""
        got = self.answers.get(key)
        if isinstance(got, fastwire.Reply):
            return got.rdatas
        if isinstance(got, dns.resolver.Answer) and got.rrset is not None:
            return tuple(got.rrset)
        return None

    def _follow_ups(self, key: Key) -> set[Key]:
        name, rdtype = key
        if rdtype == dns.rdatatype.TXT and name.startswith(WILDCARD_LABEL + "."):
            # the wildcard probe: only where a wildcard answers does its parent matter
            # (`wildcards.check_wildcard_shadow`); its CNAME shows in this answer
            if self._rdatas(key) or self._cname_from_cache(name):
                return {_key(name.split(".", 1)[1], "TXT")}
            return set()
        rdatas = self._rdatas(key)
        if not rdatas:
            return set()
        out: set[Key] = set()
        if rdtype == dns.rdatatype.TXT:
            for rd in rdatas:
                text = b"".join(rd.strings).decode("utf-8", errors="replace")
                if text.lower().startswith("v=spf1 ") or text.lower() == "v=spf1":
                    out |= {_key(n, t) for n, t in spf_questions(text, name)}
        elif rdtype == dns.rdatatype.MX:
            for rd in rdatas:
                if rd.exchange != dns.name.root:
                    out |= {_key(rd.exchange, "A"), _key(rd.exchange, "AAAA")}
        return out

    # ------------------------------------------------------------------ reading the answers

    def values(self, name: str, rtype: str) -> list[str] | None:
        """Presentation values at name/type, CNAMEs followed; [] when it does not exist; None when the lookup
        failed (timeout, SERVFAIL), which callers report instead of guessing."""
        if rtype.upper() == "CNAME":
            derived = self._cname_from_cache(name)
            if derived is not None:
                return derived
        got = self.answers.get(_key(name, rtype))
        if isinstance(got, fastwire.Reply):
            return [rd.to_text() for rd in got.rdatas or ()]
        try:
            answer = self.resolver.resolve(name, rtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException:
            return None
        # a CNAME chain is followed, as receivers do (DKIM selectors are often CNAMEs)
        return [rd.to_text() for rd in answer.rrset] if answer.rrset is not None else []

    def _cname_from_cache(self, name: str) -> list[str] | None:
        """The CNAME at `name` as a cached A or TXT answer shows it, without asking again: a
        name with a CNAME has nothing else (RFC 1034 §3.6.2), so an answer about the name
        starts with the CNAME exactly when there is one (also when its target does not exist:
        NXDOMAIN with the CNAME). None when no such answer is cached."""
        if _key(name, "CNAME") in self.answers:
            return None
        for rtype in ("A", "TXT"):
            got = self.answers.get(_key(name, rtype))
            if isinstance(got, fastwire.Reply):
                return [rd.to_text() for rd in got.cname]
            if isinstance(got, dns.resolver.Answer):
                response = got.response
            elif isinstance(got, dns.resolver.NXDOMAIN) and got.responses():
                response = next(iter(got.responses().values()))
            else:
                continue
            qname = exchange.name(name)
            for rrset in response.answer:
                if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == qname:
                    return [rd.to_text() for rd in rrset]
            return []
        return None

    def once(self, key: Any, compute: Callable[[], T]) -> T:
        """`compute()` once per run for `key` (its result, or the exception it raised again):
        the same SPF record on 500 zones is evaluated once from the same cached answers."""
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except Exception as exc:  # noqa: BLE001 - replayed to every caller with this key
                self._memo[key] = (False, exc)
        ok, value = self._memo[key]
        if not ok:
            raise value.with_traceback(None)
        return value

    def spf_reach(self, text: str, domain: str) -> tuple[bool, frozenset[str]]:
        """(depends on the domain, names reached through includes/redirects) of an SPF record,
        read from the cache. A record whose evaluation cannot depend on which domain holds it
        (no macros, no bare a/mx/ptr at the top, a chain that never comes back to the domain)
        is evaluated once for every domain that publishes it."""
        seen: set[str] = set()
        stack = [text]
        dependent = False
        while stack:
            record = stack.pop()
            for term in record.split()[1:]:
                body = term.lstrip("+-~?")
                dependent = dependent or "%" in body
                if body.lower().startswith("redirect="):
                    target = body.split("=", 1)[1]
                else:
                    mech, _, arg = body.partition(":")
                    mech = mech.split("/", 1)[0].lower()
                    if record is text and mech in ("a", "mx", "ptr") and not arg:
                        dependent = True
                    target = arg if mech == "include" else ""
                if not target or "%" in target:
                    continue
                try:
                    tname = _key(target, "TXT")[0]
                except dns.exception.DNSException:
                    continue
                if tname in seen:
                    continue
                seen.add(tname)
                for rd in self._rdatas((tname, int(dns.rdatatype.TXT))) or ():
                    value = b"".join(rd.strings).decode("utf-8", errors="replace")
                    if value.lower().startswith("v=spf1"):
                        stack.append(value)
        dependent = dependent or _key(domain, "TXT")[0] in seen
        return dependent, frozenset(seen)

    def spf_once(self, text: str, domain: str, evaluate: Callable[[], T]) -> T:
        """`evaluate()` (an SPF evaluation of `text` at `domain`) once per run for every domain
        publishing the same record, unless its outcome can depend on the domain."""
        dependent, _ = self.spf_reach(text, domain)
        return self.once(("spf", text, _key(domain, "TXT")[0] if dependent else None), evaluate)


def _resolved(key: Key, reply: fastwire.Reply) -> dns.resolver.Answer | dns.resolver.NXDOMAIN:
    """The dnspython Answer (or NXDOMAIN) a Reply stands for, for libraries that want one."""
    qname = exchange.name(key[0])
    response = dns.message.from_wire(reply.data)
    if reply.nxdomain:
        return dns.resolver.NXDOMAIN(qnames=[qname], responses={qname: response})
    return dns.resolver.Answer(qname, key[1], dns.rdataclass.IN, response)


def spf_questions(text: str, domain: str) -> list[tuple[str, str]]:
    """What evaluating one SPF record asks first: TXT (and the obsolete SPF type, and CNAME:
    checkdmarc warns about a CNAME beside the TXT) of includes and redirects, A/AAAA of `a`, MX of `mx`, A of `exists`. Terms with macros are skipped
    (their names are only known per message)."""
    out: list[tuple[str, str]] = []
    for term in text.split()[1:]:
        if "%" in term:
            continue
        body = term.lstrip("+-~?")
        if body.lower().startswith("redirect="):
            target = body.split("=", 1)[1]
            out += [(target, "TXT"), (target, "SPF"), (target, "CNAME")]
            continue
        mech, _, arg = body.partition(":")
        mech = mech.split("/", 1)[0].lower()
        arg = arg.split("/", 1)[0]
        target = arg or domain
        try:
            exchange.name(target)  # parsed once per run, whatever asks
        except dns.exception.DNSException:
            continue
        if mech == "include" and arg:
            out += [(target, "TXT"), (target, "SPF"), (target, "CNAME")]
        elif mech == "a":
            out += [(target, "A"), (target, "AAAA")]
        elif mech == "mx":
            out.append((target, "MX"))
        elif mech == "exists" and arg:
            out.append((target, "A"))
    return out
