"""BIND-format zone files in a directory, served by the embedded DNS server.

The default provider: it needs no account, so the demo and the tests run anywhere. Writes are
atomic (temporary file + rename, so the server never reads half a file), bump the SOA serial,
and are refused when an RRset the plan touches changed on disk since the plan was made.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

from ..dnsserver import DNSServer
from ..errors import ConfigError, ProviderError
from ..records import RRset, fqdn
from .base import ChangeRef, Provider, check_drift


class ZoneFileProvider(Provider):
    """Options: `directory` (zone files named <zone>.zone), `standins` (extra read-only zones
    the embedded server also answers for, such as stand-ins for outside names in the demo)."""

    def __init__(self, env) -> None:
        super().__init__(env)
        self.directory = (env.root / self.options["directory"]).resolve()
        standins = self.options.get("standins")
        self.standins = (env.root / standins).resolve() if standins else None
        self._server: DNSServer | None = None

    def path(self, zone: str) -> Path:
        return self.directory / f"{fqdn(zone).rstrip('.')}.zone"

    def _load(self, zone: str) -> dns.zone.Zone:
        path = self.path(zone)
        if not path.is_file():
            raise ConfigError(
                f"zone {fqdn(zone)}: no zone file {path}",
                "create it or fix provider.directory",
            )
        try:
            return dns.zone.from_file(str(path), origin=fqdn(zone), relativize=False)
        except (dns.exception.DNSException, OSError) as exc:
            raise ProviderError(f"zone file {path}: {exc}") from exc

    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        return _rrsets(self._load(zone), names)

    @contextmanager
    def _file_lock(self, zone: str):
        lock_path = self.path(zone).with_suffix(".zone.lock")
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def apply(self, zone: str, plan) -> ChangeRef:
        with self._file_lock(zone):
            z = self._load(zone)
            check_drift(zone, plan, _rrsets(z, {c.key[0] for c in plan.changes}))
            for change in plan.changes:
                name = dns.name.from_text(change.key[0])
                rdtype = dns.rdatatype.from_text(change.key[1])
                z.delete_rdataset(name, rdtype)
                if change.after is not None:
                    rds = z.find_rdataset(name, rdtype, create=True)
                    for value in change.after.values:
                        rds.add(
                            dns.rdata.from_text(dns.rdataclass.IN, rdtype, value), change.after.ttl
                        )
                    rds.update_ttl(change.after.ttl)
            serial = _bump_serial(z)
            self._write(zone, z)
        return ChangeRef(zone=fqdn(zone), id=str(serial))

    def _write(self, zone: str, z: dns.zone.Zone) -> None:
        path = self.path(zone)
        mode = path.stat().st_mode & 0o777
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                z.to_file(fh, relativize=True, want_origin=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def server(self) -> DNSServer:
        """The embedded server for this environment, started on first use on a free port."""
        if self._server is None:
            folders = [self.directory] + ([self.standins] if self.standins else [])
            self._server = DNSServer(folders).start()
        return self._server

    def nameservers(self, zone: str) -> list[str]:
        return [self.server().address]

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def _rrsets(z: dns.zone.Zone, names: Iterable[str]) -> list[RRset]:
    out = []
    for name in sorted(set(names)):
        node = z.get_node(dns.name.from_text(name))
        if node is None:
            continue
        for rds in node.rdatasets:
            rtype = dns.rdatatype.to_text(rds.rdtype)
            out.append(RRset(name, rtype, rds.ttl, tuple(rd.to_text() for rd in rds)))
    return out


def _bump_serial(z: dns.zone.Zone) -> int:
    soa_rds = z.get_rdataset(z.origin, dns.rdatatype.SOA)
    soa = soa_rds[0]
    serial = (soa.serial + 1) % 2**32
    soa_rds.add(soa.replace(serial=serial), soa_rds.ttl)  # SOA is a singleton: replaces
    return serial
