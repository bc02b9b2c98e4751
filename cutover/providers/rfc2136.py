"""Self-hosted primaries (BIND, Knot, PowerDNS, Windows DNS) through RFC 2136 dynamic updates.

Reads are plain queries to the primary over one TCP connection, pipelined, one per name and type
(ANY is no good: Knot answers it with a single RRset, RFC 8482 servers with a HINFO). Each stage
changes a zone with exactly one TSIG-signed UPDATE over TCP whose prerequisites say that every
RRset it touches still holds exactly the values the plan was made against, so the server applies
all of it or none of it (RFC 2136 §3.2, §3.7) and raises the SOA serial once. Prerequisites
cannot compare TTLs, so a fresh read checks those right before the UPDATE is sent.

The TSIG secret is read from the environment variable the config names and lives only in the
keyring in memory; no message this module builds contains it.
"""

from __future__ import annotations

import base64
import binascii
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataset
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr
import dns.zone

from ..addresses import format_address, is_ip, parse_address
from ..errors import ConfigError, DriftError, ProviderError
from ..records import RRset, fqdn
from ..rrtypes import rdataset_values, to_rdataset
from .base import ChangeRef, Provider, check_drift
from .contract import Address, Addresses, Capabilities, Choice, Mapping, Seconds, Text

#: The types read at each managed name. Everything a profile renders, plus what can sit beside
#: (and so conflict with) a CNAME. SOA is left out: every UPDATE changes it.
READ_TYPES = (
    "A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "DNAME", "PTR", "HINFO", "NAPTR",
    "TLSA", "SSHFP", "HTTPS", "SVCB", "SPF",
)  # fmt: skip
ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
SNAPSHOT_MODES = ("names", "zone")
DRIFT_RCODES = {dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN}
PIPELINE_WINDOW = 16  # queries in flight on the read connection


@dataclass(frozen=True)
class Tsig:
    """The key as dnspython wants it; `repr` leaves the secret out so no traceback shows it."""

    name: dns.name.Name
    algorithm: dns.name.Name
    keyring: dict[dns.name.Name, dns.tsig.Key]

    def __repr__(self) -> str:
        return f"Tsig({self.name}, {self.algorithm})"


@dataclass(frozen=True)
class Settings:
    """The provider's options from the environment file, checked once."""

    server: str  # as written, for messages
    host: str
    port: int
    tsig: Tsig | None
    timeout: float
    snapshot: str
    nameservers: list[str]


def parse_settings(path: Any, options: dict[str, Any]) -> Settings:
    """The rfc2136 options as typed settings. Their shape was checked against
    `RFC2136Provider.options_schema` when the file was loaded; what is left to check here is
    the outside world (the TSIG secret's variable), each error naming the file and key (exit 2)."""

    def fail(key: str, message: str, hint: str = "fix the environment file and run again"):
        return ConfigError(f"{path}: provider.{key}: {message}", hint)

    server = str(options["server"]).strip()
    host, port = parse_address(server)
    nameservers = [format_address(*parse_address(ns)) for ns in options.get("nameservers") or []]
    return Settings(
        server=server,
        host=host,
        port=port,
        tsig=_parse_tsig(fail, options.get("tsig")),
        timeout=float(options.get("timeout") or 10),
        snapshot=options.get("snapshot") or "names",
        nameservers=nameservers,
    )


def _parse_tsig(fail, tsig: Any) -> Tsig | None:
    """The key, with its secret taken from the environment variable the file names."""
    if tsig is None:
        return None  # unsigned: for servers that allow updates by address
    name = tsig["name"]
    algorithm = str(tsig.get("algorithm") or "hmac-sha256").lower().rstrip(".")
    var = tsig["secret_env"]
    secret = os.environ.get(var)
    if not secret:
        raise fail(
            "tsig.secret_env",
            f"environment variable {var} is not set",
            f"export {var} with the key's base64 secret and run again",
        )
    try:
        raw = base64.b64decode(secret.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise fail(
            "tsig.secret_env",
            f"environment variable {var} does not hold a base64 TSIG secret",
            "copy the secret from the server's key file (tsig-keygen / keymgr output)",
        )
    key_name = dns.name.from_text(name.strip())
    alg = ALGORITHMS[algorithm]
    return Tsig(key_name, alg, {key_name: dns.tsig.Key(key_name, raw, alg)})


class RFC2136Provider(Provider):
    """Options: `server` (the primary), `tsig` {name, algorithm, secret_env}, `snapshot`
    (names | zone: AXFR the whole zone into each snapshot), `timeout` (seconds per exchange),
    `nameservers` (what to verify against; default: the primary)."""

    options_schema = {
        "server": Address(required=True, example='"192.0.2.53:53"', doc="the zone's primary"),
        "tsig": Mapping(
            fields={
                "name": Text(required=True, doc="the key's name as the server knows it"),
                "algorithm": Choice(
                    values=tuple(sorted(ALGORITHMS)),
                    normalize=lambda v: str(v).lower().rstrip("."),
                    doc="default hmac-sha256",
                ),
                "secret_env": Text(required=True, doc="the variable holding the base64 secret"),
            },
            doc="omit for servers that allow updates by address",
            unknown_hint="the secret itself never goes in the file: put it in an environment "
            "variable and name that variable in tsig.secret_env",
        ),
        "snapshot": Choice(values=SNAPSHOT_MODES, doc="zone: AXFR the whole zone into snapshots"),
        "timeout": Seconds(high=600, doc="seconds per exchange (default 10)"),
        "nameservers": Addresses(doc="what to verify against (default: primary + NS)"),
    }
    # one UPDATE per zone whose prerequisites are every `before` (TTLs are re-read first)
    capabilities = Capabilities(atomic_per_zone=True, drift_check="precondition")

    def __init__(self, env) -> None:
        super().__init__(env)
        self.settings = parse_settings(env.path, dict(self.options))
        self._address: str | None = None

    # ------------------------------------------------------------------ helpers

    def _where(self, zone: str) -> str:
        return f"rfc2136 server {self.settings.server}, zone {fqdn(zone)}"

    def _ip(self, zone: str) -> str:
        """The primary's IP address (a host name is resolved once, by the system resolver)."""
        if self._address is None:
            host = self.settings.host
            if is_ip(host):
                self._address = host
            else:
                try:
                    infos = socket.getaddrinfo(host, self.settings.port, type=socket.SOCK_STREAM)
                except OSError as exc:
                    raise ProviderError(
                        f"{self._where(zone)}: cannot resolve {host}: {exc}",
                        "check provider.server",
                    ) from exc
                self._address = str(infos[0][4][0])
        return self._address

    def _connect(self, zone: str) -> socket.socket:
        ip = self._ip(zone)
        try:
            sock = socket.create_connection((ip, self.settings.port), self.settings.timeout)
        except TimeoutError as exc:
            raise ProviderError(
                f"{self._where(zone)}: no TCP connection within {self.settings.timeout:g}s",
                "check that the server is up and reachable",
            ) from exc
        except OSError as exc:
            raise ProviderError(
                f"{self._where(zone)}: cannot connect: {exc.strerror or exc}",
                "check that the server is up and provider.server is right",
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pipelined small queries
        sock.setblocking(False)  # dnspython's TCP helpers want a non-blocking connected socket
        return sock

    def _query_many(
        self, zone: str, questions: list[tuple[str, str]]
    ) -> dict[tuple[str, str], dns.message.Message]:
        """Ask every (name, type) over one TCP connection, `PIPELINE_WINDOW` at a time."""
        out: dict[tuple[str, str], dns.message.Message] = {}
        sock = self._connect(zone)
        try:
            for start in range(0, len(questions), PIPELINE_WINDOW):
                batch = questions[start : start + PIPELINE_WINDOW]
                expiration = time.time() + self.settings.timeout
                pending: dict[int, tuple[tuple[str, str], dns.message.Message]] = {}
                for i, (name, rtype) in enumerate(batch):
                    q = dns.message.make_query(name, rtype)
                    q.id = (start + i) % 65536
                    q.flags &= ~dns.flags.RD
                    pending[q.id] = ((name, rtype), q)
                    dns.query.send_tcp(sock, q, expiration)
                while pending:
                    r, _ = dns.query.receive_tcp(sock, expiration)
                    item = pending.pop(r.id, None)
                    if item is None or not item[1].is_response(r):
                        raise ProviderError(f"{self._where(zone)}: unexpected answer to a query")
                    out[item[0]] = r
        except dns.exception.Timeout as exc:
            raise ProviderError(
                f"{self._where(zone)}: no answer to queries within {self.settings.timeout:g}s",
                "check the server, or raise provider.timeout",
            ) from exc
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            raise ProviderError(
                f"{self._where(zone)}: query failed: {type(exc).__name__}: {exc}",
                "check the server's log",
            ) from exc
        finally:
            sock.close()
        return out

    def _rrsets_from(
        self, zone: str, answers: dict[tuple[str, str], dns.message.Message]
    ) -> list[RRset]:
        out = []
        for (name, rtype), r in answers.items():
            rcode = r.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or not (r.flags & dns.flags.AA):
                why = dns.rcode.to_text(rcode) if rcode != dns.rcode.NOERROR else "no AA flag"
                raise ProviderError(
                    f"{self._where(zone)}: the server is not authoritative for the zone "
                    f"(query {name} {rtype}: {why})",
                    "point provider.server at the zone's primary",
                )
            owner = dns.name.from_text(name)
            rdtype = dns.rdatatype.from_text(rtype)
            for rrset in r.answer:
                if rrset.name == owner and rrset.rdtype == rdtype:
                    out.append(RRset(name, rtype, rrset.ttl, rdataset_values(rrset)))
        return sorted(out, key=lambda x: x.key)

    # ------------------------------------------------------------------ the interface

    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        """Every RRset of READ_TYPES at `names`, straight from the primary."""
        questions = [(fqdn(n), t) for n in sorted(set(names)) for t in READ_TYPES]
        return self._rrsets_from(zone, self._query_many(zone, questions)) if questions else []

    def serial(self, zone: str) -> int:
        """The primary's SOA serial of `zone`."""
        r = self._query_many(zone, [(fqdn(zone), "SOA")])[(fqdn(zone), "SOA")]
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        raise ProviderError(f"{self._where(zone)}: no SOA in the server's answer")

    def apply(self, zone: str, plan) -> ChangeRef:
        """One UPDATE: prerequisites = every `before` exactly; then deletes, then adds."""
        zone = fqdn(zone)
        names = {c.key[0] for c in plan.changes}
        check_drift(zone, plan, self.read(zone, names))  # TTLs: prerequisites cannot see them
        update = self._update_message(zone, plan)
        response = self._send_update(zone, update)
        rcode = response.rcode()
        if rcode in DRIFT_RCODES:
            check_drift(zone, plan, self.read(zone, names))  # names the RRset that moved
            raise DriftError(
                f"{zone}: the server refused the update ({dns.rcode.to_text(rcode)}): a record "
                "the plan touches changed since the plan was made; nothing was applied",
                "run plan again and review the new diff",
            )
        if rcode != dns.rcode.NOERROR:
            raise ProviderError(
                f"{self._where(zone)}: update {_rcode_text(response)}; nothing was applied",
                _rcode_hint(rcode),
                nothing_written=True,
            )
        self._check_served(zone, plan)
        return ChangeRef(zone=zone, id=str(self.serial(zone)))

    def _update_message(self, zone: str, plan) -> dns.update.UpdateMessage:
        tsig = self.settings.tsig
        update = dns.update.UpdateMessage(
            zone,
            keyring=tsig.keyring if tsig else None,
            keyname=tsig.name if tsig else None,
            keyalgorithm=tsig.algorithm if tsig else dns.tsig.default_algorithm,
        )
        for change in plan.changes:
            name = dns.name.from_text(change.key[0])
            if change.before is None:
                update.absent(name, change.key[1])
            else:
                update.present(name, _rdataset(change.before, ttl=0))  # RFC 2136 §2.4.2: TTL 0
        for change in plan.changes:  # deletes first: a CNAME add after an A delete is accepted
            update.delete(dns.name.from_text(change.key[0]), change.key[1])
        for change in plan.changes:
            if change.after is not None:
                update.add(dns.name.from_text(change.key[0]), _rdataset(change.after))
        return update

    def _send_update(self, zone: str, update: dns.update.UpdateMessage) -> dns.message.Message:
        """Send over TCP; every failure is one line naming the server and the zone (exit 3)."""
        where = self._where(zone)
        try:
            return dns.query.tcp(
                update, self._ip(zone), timeout=self.settings.timeout, port=self.settings.port
            )
        except dns.tsig.PeerBadSignature as exc:
            raise ProviderError(
                f"{where}: the server rejected the TSIG signature (BADSIG); nothing was applied",
                "check that the secret in tsig.secret_env matches the server's key",
                nothing_written=True,
            ) from exc
        except dns.tsig.PeerBadKey as exc:
            raise ProviderError(
                f"{where}: the server does not know TSIG key {self.settings.tsig.name if self.settings.tsig else '?'}"
                " (BADKEY); nothing was applied",
                "check tsig.name and tsig.algorithm against the server's key",
                nothing_written=True,
            ) from exc
        except dns.tsig.PeerBadTime as exc:
            raise ProviderError(
                f"{where}: the server rejected the TSIG time (BADTIME); nothing was applied",
                "check the clocks of this machine and the server",
                nothing_written=True,
            ) from exc
        except (dns.tsig.BadSignature, dns.tsig.PeerError) as exc:
            raise ProviderError(
                f"{where}: TSIG failure ({type(exc).__name__}); the update may not have been "
                "applied",
                f"check the key, then run `invoke plan --env {self.env.name}` to see the zone",
            ) from exc
        except dns.exception.Timeout as exc:
            raise ProviderError(
                f"{where}: no answer to the update within {self.settings.timeout:g}s; it may or "
                "may not have been applied",
                f"run `invoke plan --env {self.env.name}` to see what the server holds",
            ) from exc
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            raise ProviderError(
                f"{where}: update failed: {type(exc).__name__}: {exc}",
                f"run `invoke plan --env {self.env.name}` to see what the server holds",
            ) from exc

    def _check_served(self, zone: str, plan) -> None:
        """A server may answer NOERROR and still skip an update it deems invalid (RFC 2136
        §3.4.2.2: a CNAME beside other data). Read back at once so that is never silent."""
        live = {r.key: r for r in self.read(zone, {c.key[0] for c in plan.changes})}
        for change in plan.changes:
            if live.get(change.key) != change.after:
                raise ProviderError(
                    f"{self._where(zone)}: the server answered NOERROR but does not serve "
                    f"{change.key[0]} {change.key[1]} as sent; the zone may be partly changed",
                    f"run `invoke plan --env {self.env.name}` and check the server's log",
                )

    def nameservers(self, zone: str) -> list[str]:
        """The configured list; else the primary plus every server in the zone's NS RRset.

        Secondaries are where a change lags, so they are asked too: an in-zone NS name gets the
        addresses the primary holds for it, an outside one stays a name for the validator to
        resolve. The primary is kept even when hidden (not in NS): it is authoritative.
        """
        if self.settings.nameservers:
            return list(self.settings.nameservers)
        zone = fqdn(zone)
        out = [format_address(self._ip(zone), self.settings.port)]
        ns_rrsets = self._rrsets_from(zone, self._query_many(zone, [(zone, "NS")]))
        names = sorted({v for r in ns_rrsets for v in r.values})
        glue_q = [(n, t) for n in names if n.endswith("." + zone) for t in ("A", "AAAA")]
        glue = self._rrsets_from(zone, self._query_many(zone, glue_q)) if glue_q else []
        for name in names:
            addresses = [v for r in glue if r.name == name for v in r.values]
            out += [format_address(a, 53) for a in addresses] or [f"{name.rstrip('.')}:53"]
        return list(dict.fromkeys(out))

    # ------------------------------------------------------------------ snapshot: zone

    def archive(self, zone: str) -> list[RRset] | None:
        """With `snapshot: zone`, the whole zone by AXFR (TSIG-signed when a key is set)."""
        if self.settings.snapshot != "zone":
            return None
        zone = fqdn(zone)
        tsig = self.settings.tsig
        try:
            xfr = dns.query.xfr(
                self._ip(zone),
                zone,
                port=self.settings.port,
                timeout=self.settings.timeout,
                lifetime=self.settings.timeout * 6,
                keyring=tsig.keyring if tsig else None,
                keyname=tsig.name if tsig else None,
                keyalgorithm=tsig.algorithm if tsig else dns.tsig.default_algorithm,
                relativize=False,
            )
            z = dns.zone.from_xfr(xfr, relativize=False)
        except dns.exception.Timeout as exc:
            raise ProviderError(
                f"{self._where(zone)}: zone transfer timed out after {self.settings.timeout:g}s",
                "allow AXFR to this host with the key, or set provider.snapshot: names",
            ) from exc
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            raise ProviderError(
                f"{self._where(zone)}: zone transfer refused or failed ({type(exc).__name__})",
                "allow AXFR to this host with the key, or set provider.snapshot: names",
            ) from exc
        out = []
        for name, rds in z.iterate_rdatasets():
            rtype = dns.rdatatype.to_text(rds.rdtype)
            out.append(RRset(name.to_text(), rtype, rds.ttl, rdataset_values(rds)))
        return sorted(out, key=lambda x: x.key)


def _rdataset(rrset: RRset, ttl: int | None = None) -> dns.rdataset.Rdataset:
    return to_rdataset(rrset.type, rrset.ttl if ttl is None else ttl, rrset.values)


def _rcode_text(response: dns.message.Message) -> str:
    rcode = response.rcode()
    text = dns.rcode.to_text(rcode)
    if rcode == dns.rcode.NOTAUTH:
        return "refused with NOTAUTH (not authoritative, or the TSIG key was not accepted)"
    if rcode == dns.rcode.REFUSED:
        return "refused with REFUSED (updates are not allowed for this key or address)"
    return f"failed with {text}"


def _rcode_hint(rcode: int) -> str:
    if rcode in (dns.rcode.NOTAUTH, dns.rcode.REFUSED):
        return "check provider.server is the zone's primary and the key may update the zone"
    return "check the server's log"
