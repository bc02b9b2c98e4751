"""DNS lookups for lint, through `lint.resolvers` only.

Lint follows SPF includes, DKIM CNAMEs and MX targets out of the user's zones, so it needs a
resolver; which one is the user's choice (the demo's is the embedded server with its stand-ins).
A resolver that does not answer at all is a provider/network failure (exit 3), found once by a
probe instead of as a hundred confusing findings.
"""

from __future__ import annotations

import dns.exception
import dns.nameserver
import dns.resolver

from ..addresses import parse_address
from ..errors import ConfigError, ProviderError


def lint_addresses(env, provider) -> list[str]:
    out = []
    for addr in env.lint_resolvers:
        if addr == "embedded":
            server = getattr(provider, "server", None)
            if server is None:
                raise ConfigError(
                    f"{env.path}: lint.resolvers: `embedded` needs the zonefile provider",
                    "list resolvers as host:port",
                )
            addr = server().address
        out.append(addr)
    return out


class Lookup:
    """A resolver bound to the lint resolvers (or the system's when none are configured)."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.nameservers = [
            dns.nameserver.Do53Nameserver(host, port=port)
            for host, port in map(parse_address, addresses)
        ]
        try:
            self.resolver = dns.resolver.Resolver(configure=not self.nameservers)
        except dns.resolver.NoResolverConfiguration as exc:
            raise ProviderError(
                "lint: no lint.resolvers configured and no system resolver",
                "set lint.resolvers in the environment file",
            ) from exc
        if self.nameservers:
            self.resolver.nameservers = self.nameservers
        self.resolver.timeout = 1.0
        self.resolver.lifetime = 3.0
        self.resolver.cache = None

    @property
    def described(self) -> str:
        return ", ".join(self.addresses) or "the system resolver"

    def probe(self, name: str) -> None:
        """Raise ProviderError (exit 3) when no resolver answers anything at all."""
        try:
            self.resolver.resolve(name, "SOA")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return
        except dns.exception.DNSException as exc:
            raise ProviderError(
                f"lint: no resolver answered (asked {self.described}): {exc}",
                "check lint.resolvers, or the network",
            ) from exc

    def values(self, name: str, rtype: str) -> list[str] | None:
        """Presentation values at name/type, CNAMEs followed; [] when it does not exist; None when the lookup
        failed (timeout, SERVFAIL), which callers report instead of guessing."""
        try:
            answer = self.resolver.resolve(name, rtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException:
            return None
        # a CNAME chain is followed, as receivers do (DKIM selectors are often CNAMEs)
        return [rd.to_text() for rd in answer.rrset] if answer.rrset is not None else []
