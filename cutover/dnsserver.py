"""An authoritative DNS server on loopback that serves BIND-format zone files.

It is what makes the zone-file provider a real DNS host: verification, lint and `dig` talk to
it over UDP and TCP like to any nameserver. It answers with the AA bit, tells NXDOMAIN from
NODATA (SOA in the authority section, RFC 2308), synthesizes answers from wildcards (RFC 4592:
from `*.<closest encloser>` for a name that does not exist, never past a name or an empty
non-terminal that does), follows CNAME chains inside its zones, answers REFUSED outside them, truncates over-long UDP answers so clients retry over TCP, and reloads a
zone when its file changes on disk.
"""

from __future__ import annotations

import socketserver
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone

from .zoneload import load_zone

MAX_CNAME_CHAIN = 8


class ZoneStore:
    """Zone files in folders, loaded on first use and reloaded when their mtime changes."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._zones: dict[dns.name.Name, tuple[float, int, dns.zone.Zone]] = {}
        self._lock = threading.Lock()

    def files(self) -> dict[dns.name.Name, Path]:
        out: dict[dns.name.Name, Path] = {}
        for folder in self.folders:
            for path in sorted(folder.glob("*.zone")):
                out[dns.name.from_text(path.name[: -len(".zone")])] = path
        return out

    def zone_for(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        files = self.files()
        best = None
        for origin in files:
            if qname.is_subdomain(origin) and (best is None or len(origin) > len(best)):
                best = origin
        if best is None:
            return None
        return self._load(best, files[best])

    def _load(self, origin: dns.name.Name, path: Path) -> dns.zone.Zone | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        with self._lock:
            cached = self._zones.get(origin)
            if cached and cached[0] == st.st_mtime and cached[1] == st.st_size:
                return cached[2]
            try:
                zone = load_zone(path, origin)
            except (dns.exception.DNSException, OSError, UnicodeDecodeError):
                return cached[2] if cached else None  # keep serving the last good copy
            self._zones[origin] = (st.st_mtime, st.st_size, zone)
            return zone


def _soa_rrset(zone: dns.zone.Zone) -> dns.rrset.RRset:
    rds = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
    ttl = min(rds.ttl, rds[0].minimum)
    rrset = dns.rrset.RRset(zone.origin, rds.rdclass, dns.rdatatype.SOA)
    rrset.update(rds)
    rrset.ttl = ttl
    return rrset


def _has_descendants(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    return any(n != name and n.is_subdomain(name) for n in zone.nodes)


def _exists(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    return zone.get_node(name) is not None or _has_descendants(zone, name)


def _wildcard_for(zone: dns.zone.Zone, name: dns.name.Name):
    """RFC 4592 §3.3.1: the node `*.<closest encloser>` that answers for a name that does not
    exist, or None. The closest encloser is the longest existing ancestor (an empty
    non-terminal exists too, and stops a wildcard above it)."""
    encloser = name.parent()
    while encloser != zone.origin and not _exists(zone, encloser):
        encloser = encloser.parent()
    return zone.get_node(dns.name.Name((b"*", *encloser.labels)))


def resolve(store: ZoneStore, query: dns.message.Message) -> dns.message.Message:
    """Build the authoritative answer to one query."""
    response = dns.message.make_response(query)
    response.flags &= ~dns.flags.RA
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    q = query.question[0]
    zone = store.zone_for(q.name)
    if zone is None:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    response.flags |= dns.flags.AA
    name = q.name
    for _ in range(MAX_CNAME_CHAIN):
        node = zone.get_node(name)
        if node is None:
            if _has_descendants(zone, name):
                break  # empty non-terminal: NODATA
            node = _wildcard_for(zone, name)  # answered with the query's name as owner
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(_soa_rrset(zone))
            return response
        if q.rdtype == dns.rdatatype.ANY:
            for rds in node.rdatasets:
                response.answer.append(_to_rrset(name, rds))
            return response
        rds = node.get_rdataset(q.rdclass, q.rdtype)
        if rds is not None:
            response.answer.append(_to_rrset(name, rds))
            return response
        cname = node.get_rdataset(q.rdclass, dns.rdatatype.CNAME)
        if cname is None:
            break
        response.answer.append(_to_rrset(name, cname))
        name = cname[0].target
        if not name.is_subdomain(zone.origin):
            return response  # the chain leaves our zone: the resolver follows it
    if not response.answer:
        response.authority.append(_soa_rrset(zone))
    return response


def _to_rrset(name: dns.name.Name, rds) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rds.rdclass, rds.rdtype)
    rrset.update(rds)
    return rrset


def _wire(query: dns.message.Message, response: dns.message.Message, limit: int) -> bytes:
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        short = dns.message.make_response(query)
        short.flags = response.flags | dns.flags.TC
        short.set_rcode(response.rcode())
        return short.to_wire()


def answer(store: ZoneStore, wire: bytes, udp: bool) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    response = resolve(store, query)
    if not udp:
        return _wire(query, response, 65535)
    limit = max(512, query.payload) if query.edns >= 0 else 512
    return _wire(query, response, limit)


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = answer(self.server.store, data, udp=True)  # type: ignore[attr-defined]
        if reply:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.settimeout(10)
        try:
            while True:
                head = _recv_exact(sock, 2)
                if not head:
                    return
                wire = _recv_exact(sock, struct.unpack("!H", head)[0])
                reply = answer(self.server.store, wire, udp=False)  # type: ignore[attr-defined]
                if reply is None:
                    return
                sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _recv_exact(sock, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


class _UDPServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class DNSServer:
    """UDP+TCP on one loopback port; port 0 picks a free one (the same for both)."""

    def __init__(self, folders: Iterable[Path], host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = ZoneStore(folders)
        self.host = host
        for _ in range(20):
            udp = _UDPServer((host, port), _UDPHandler)
            chosen = udp.server_address[1]
            try:
                tcp = _TCPServer((host, chosen), _TCPHandler)
            except OSError:
                udp.server_close()
                if port:
                    raise
                continue
            break
        else:  # pragma: no cover - twenty collisions in a row
            raise OSError("no free port for the embedded DNS server")
        self.port = chosen
        self._servers = [udp, tcp]
        for srv in self._servers:
            srv.store = self.store  # type: ignore[attr-defined]
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> DNSServer:
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
            t.daemon = True
            t.start()
            self._threads.append(t)
        return self

    def serve_forever(self) -> None:
        """Foreground mode for `invoke serve`: returns on Ctrl-C."""
        self.start()
        try:
            while True:
                threading.Event().wait(3600)
        finally:
            self.stop()

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()

    def __enter__(self) -> DNSServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
