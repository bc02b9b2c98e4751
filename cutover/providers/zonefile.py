"""BIND-format zone files in a directory, served by the embedded DNS server.

The default provider: it needs no account, so the demo and the tests run anywhere. A write edits
the file in place (zonefile_edit: only the lines of the changed RRsets and the SOA serial, every
comment, directive and other line kept), is checked by reading the new text back with dnspython
before it replaces the file, is atomic (temporary file + rename, so the server never reads half a
file), and is refused when an RRset the plan touches changed on disk since the plan was made.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone

from ..dnsserver import DNSServer
from ..errors import ConfigError, ProviderError
from ..records import RRset, fqdn, index
from ..rrtypes import rdataset_values
from ..signals import pause
from ..zoneload import load_zone, read_text
from ..zonesyntax import scan
from .base import ChangeRef, Provider, check_drift
from .contract import Capabilities, FilePath
from .zonefile_edit import edit_zone, foreign_keys, refuse_foreign
from .zonefile_source import capture


class ZoneFileProvider(Provider):
    """Options: `directory` (zone files named <zone>.zone), `standins` (extra read-only zones
    the embedded server also answers for, such as stand-ins for outside names in the demo)."""

    options_schema = {
        "directory": FilePath(required=True, doc="folder of <zone>.zone files"),
        "standins": FilePath(doc="folder of read-only zones the embedded server also serves"),
    }
    # one file replaced by rename under a lock, after reading it again
    capabilities = Capabilities(atomic_per_zone=True, drift_check="reread")

    def __init__(self, env) -> None:
        super().__init__(env)
        self.directory = (env.root / self.options["directory"]).resolve()
        standins = self.options.get("standins")
        self.standins = (env.root / standins).resolve() if standins else None
        self._server: DNSServer | None = None

    def path(self, zone: str) -> Path:
        return self.directory / f"{fqdn(zone).rstrip('.')}.zone"

    def _text(self, zone: str) -> str:
        path = self.path(zone)
        if not path.is_file():
            raise ConfigError(
                f"zone {fqdn(zone)}: no zone file {path}",
                "create it or fix provider.directory",
            )
        try:
            return read_text(path)
        except UnicodeDecodeError as exc:  # the user's file: bad input, exit 2
            raise ConfigError(
                f"zone file {path}: not UTF-8 ({exc.reason} at byte {exc.start})", "fix the file"
            ) from None
        except OSError as exc:
            raise ProviderError(f"zone file {path}: {exc}") from exc

    def _load(self, zone: str, text: str | None = None) -> dns.zone.Zone:
        path = self.path(zone)
        text = self._text(zone) if text is None else text
        try:
            return load_zone(path, fqdn(zone), text)
        except dns.exception.DNSException as exc:  # a syntax error in the user's file: exit 2
            raise ConfigError(f"zone file {path}: {exc}", "fix the file") from None
        except OSError as exc:
            raise ProviderError(f"zone file {path}: {exc}") from exc

    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        return _rrsets(self._load(zone), names)

    def source_text(self, zone: str, rrsets: list[RRset]) -> list[dict]:
        """The lines of `rrsets` (about to be deleted) as the zone file writes them, and where."""
        path = self.path(zone)
        try:
            zmap = scan(path, fqdn(zone), self._text(zone))
        except (dns.exception.DNSException, OSError):
            return []  # the write refuses it with its own message; nothing to keep
        return capture(zmap, [r.key for r in rrsets], {r.key: r for r in rrsets})

    def check_plan(self, zone: str, plan) -> None:
        """Refuse (exit 2, before the snapshot and `began`) a plan that touches an RRset from an
        `$INCLUDE`d file or a `$GENERATE` line: the editor can only change the zone file itself."""
        path = self.path(zone)
        text = self._text(zone)
        if "$INCLUDE" not in text.upper() and "$GENERATE" not in text.upper():
            return
        try:
            zmap = scan(path, fqdn(zone), text)
        except (dns.exception.DNSException, OSError) as exc:
            raise ConfigError(f"zone file {path}: {exc}", "fix the file") from None
        refuse_foreign(zmap, foreign_keys((c.key for c in plan.changes), zmap), ConfigError)

    @contextmanager
    def _file_lock(self, zone: str):
        lock_path = self.path(zone).with_suffix(".zone.lock")
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def remove_stale_temps(self, zones: list[str]) -> list[str]:
        """`<zone>.zone.XXXXXXXX.tmp` files (`_write`'s names) of a write that was killed. Every
        write holds the zone's file lock from its temporary file to the rename, so a temporary
        file seen while holding that lock belongs to no live write."""
        removed = []
        for zone in zones:
            path = self.path(zone)
            pattern = re.compile(re.escape(path.name) + r"\.[a-z0-9_]{8}\.tmp")
            if not any(pattern.fullmatch(p.name) for p in _listing(path.parent)):
                continue
            with self._file_lock(zone):
                for p in _listing(path.parent):
                    if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink():
                        try:
                            p.unlink()
                        except OSError:
                            continue
                        removed.append(str(p))
        return removed

    def apply(self, zone: str, plan) -> ChangeRef:
        path = self.path(zone)
        with self._file_lock(zone):
            text = self._text(zone)
            before = self._load(zone, text)
            check_drift(zone, plan, _rrsets(before, {c.key[0] for c in plan.changes}))
            changes = [(c.key, c.after) for c in plan.changes]
            sources = getattr(plan, "sources", None) or {}
            try:
                new_text, serial = _edited(path, zone, text, before, changes, sources)
            except ProviderError:
                if not sources:
                    raise
                # the old lines do not fit the file as it is now: write the RRsets the plain way
                new_text, serial = _edited(path, zone, text, before, changes, {})
            self._write(zone, new_text)
        return ChangeRef(zone=fqdn(zone), id=str(serial))

    def _write(self, zone: str, text: str) -> None:
        path = self.path(zone)
        mode = path.stat().st_mode & 0o777
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            pause("zone-temp-written")
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

    def local_resolver(self) -> str | None:
        return self.server().address

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def _edited(path: Path, zone: str, text: str, before, changes, sources) -> tuple[str, int]:
    """The file's new text and serial, checked: it holds exactly what the plan says."""
    try:
        new_text, serial = edit_zone(scan(path, fqdn(zone), text), changes, sources)
        after = load_zone(path, fqdn(zone), new_text)
    except (dns.exception.DNSException, OSError) as exc:
        raise ProviderError(
            f"zone file {path}: cannot edit it in place ({exc})",
            nothing_written=True,
        ) from exc
    _check_edit(path, before, after, changes, serial, "$TTL" in text.upper())
    return new_text, serial


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _rrsets(z: dns.zone.Zone, names: Iterable[str]) -> list[RRset]:
    out = []
    for name in sorted(set(names)):
        node = z.get_node(dns.name.from_text(name))
        if node is None:
            continue
        for rds in node.rdatasets:
            rtype = dns.rdatatype.to_text(rds.rdtype)
            out.append(RRset(name, rtype, rds.ttl, rdataset_values(rds)))
    return out


def _all(z: dns.zone.Zone) -> dict[tuple[str, str], RRset]:
    return index(_rrsets(z, {n.to_text() for n in z.nodes}))


def _check_edit(path, before, after, changes, serial: int, has_ttl: bool) -> None:
    """Refuse (nothing written) unless the edited file holds exactly the plan's `after` for the
    changed RRsets, every other RRset as it was, and the SOA with only its serial raised."""
    old, new = _all(before), _all(after)
    expected = dict(old)
    for key, rrset in changes:
        expected.pop(key, None)
        if rrset is not None:
            expected[key] = rrset
    soa_key = (before.origin.to_text().lower(), "SOA")
    old_soa = before.get_rdataset(before.origin, dns.rdatatype.SOA)
    new_soa = after.get_rdataset(after.origin, dns.rdatatype.SOA)
    wrong = sorted(
        k for k in set(expected) | set(new) if k != soa_key and expected.get(k) != new.get(k)
    )
    if (
        new_soa is None
        or new_soa[0] != old_soa[0].replace(serial=serial)
        or new_soa.ttl != old_soa.ttl
    ):
        wrong.append(soa_key)
    if wrong:
        what = ", ".join(f"{n} {t}" for n, t in wrong[:3])
        # RFC 1035: without $TTL, a line with no TTL takes the TTL of the line above it
        hint = "give the lines around it explicit TTLs" if not has_ttl else "report this"
        raise ProviderError(
            f"zone file {path}: editing it in place would not give what the plan says "
            f"({what}); the file was left as it was: {hint}",
            hint,
            nothing_written=True,
        )
