"""One DNS question over UDP, asynchronously, at a small fraction of dnspython's per-query cost.

Validate asks 14 questions per zone and lint about 8 more: at 500 zones the run is CPU-bound in
the DNS client, and most of a `dns.asyncquery.udp` call is not the DNS: building the message
and rendering it to wire (the same bytes for the same question every time), and a new socket with
its asyncio transport per query. Here the query's wire form is written once per question (only
the id changes per send), and queries to one server share a connected UDP socket (a `Channel`)
that matches answers to queries by id and question, like `dns.asyncquery.udp` does.

The price: up to `USES` queries share a source port (then a fresh channel, a fresh port, takes
over), so an off-path spoofer has the 16-bit id to guess for those instead of id and port; and
an ICMP error on that socket fails the queries in flight on it (a closed port's "port
unreachable" fails them at once, ConnectionRefusedError: UNREACHABLE, as a connected socket per
query did).
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import weakref
from functools import lru_cache

import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

#: EDNS payload (the DNS flag day 2020 size): a 2048-bit DKIM key does not fit 512 bytes, and a
#: truncated answer costs a TCP connection (two more round trips)
EDNS_PAYLOAD = 1232
#: queries one channel (one source port) serves before the next takes over; also the most it
#: has in flight, whose answers must fit its receive buffer (Linux's default is 208 KiB, and a
#: DKIM answer takes about 2 KiB of it)
USES = 32
#: rcodes whose answers may come without the question (dnspython's `is_response` allows it)
_NO_QUESTION_OK = {dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP, dns.rcode.REFUSED}


@lru_cache(maxsize=65536)
def name(text: str) -> dns.name.Name:
    """Names parsed once: validate asks each name of each zone of every server (and again on
    every --wait round), and parsing is a good part of a query's cost in Python."""
    return dns.name.from_text(text)


@lru_cache(maxsize=65536)
def query(qname: str, rtype: str | int, recursive: bool) -> tuple[dns.name.Name, int, bytes]:
    """(name, rdtype, wire form with id 0) of the query: the same bytes as dnspython's
    `make_query(name, rtype, use_edns=0, payload=EDNS_PAYLOAD)` (RD cleared unless recursive),
    written directly: rendering a Message is most of what a query costs to build."""
    qn = name(qname)
    rdtype = dns.rdatatype.RdataType.make(rtype)
    header = struct.pack("!HHHHHH", 0, dns.flags.RD if recursive else 0, 1, 0, 0, 1)
    question = qn.to_wire() + struct.pack("!HH", rdtype, dns.rdataclass.IN)
    opt = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, EDNS_PAYLOAD, 0, 0)
    return qn, rdtype, header + question + opt


class Channel(asyncio.DatagramProtocol):
    """A connected UDP socket to one server with many queries in flight, keyed by id."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        #: id -> (the question as sent: name lower-cased, type, class; the answer's future)
        self.pending: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self.uses = 0
        self.closed = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        """The answer to the query with its id and question; anything else (a late answer to
        an earlier query that had the same id, say) is dropped, as `dns.asyncquery.udp` drops
        what is not a response to its query."""
        got = self.pending.get(int.from_bytes(data[:2], "big")) if len(data) >= 12 else None
        if got is None or got[1].done():
            return
        question, fut = got
        if data[4:6] == b"\x00\x01":
            end = 12 + len(question)
            sent = data[12 : end - 4].lower() + data[end - 4 : end]
            if sent != question:
                return
        elif data[4:6] != b"\x00\x00":
            return  # (no question is allowed with some rcodes: `_answers` decides)
        fut.set_result(data)

    def error_received(self, exc: Exception) -> None:
        for _, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for _, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(exc or ConnectionResetError("the socket closed"))

    def new_id(self) -> int:
        while True:
            qid = secrets.randbits(16)
            if qid not in self.pending:
                return qid

    def release(self, qid: int) -> None:
        """Forget `qid`; close the socket once nothing waits on it (in a burst of queries
        others always do, so it stays open; a lone query closes it, as before)."""
        del self.pending[qid]
        if not self.pending and self.transport is not None:
            self.closed = True
            self.transport.close()


class Channels:
    """The open channel to each server for the running event loop."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, int], Channel] = {}
        self.opening: dict[tuple[str, int], asyncio.Future[Channel]] = {}

    async def get(self, host: str, port: int) -> Channel:
        key = (host, port)
        while True:
            ch = self.open.get(key)
            if ch is not None and not ch.closed and ch.uses < USES:
                ch.uses += 1
                return ch
            opening = self.opening.get(key)  # one socket at a time, not one per waiting query
            if opening is None:
                opening = self.opening[key] = asyncio.ensure_future(self._connect(host, port))
                opening.add_done_callback(lambda f: self._opened(key, f))
            ch = await asyncio.shield(opening)  # a cancelled query cancels only itself
            if not ch.closed and ch.uses < USES:
                ch.uses += 1
                return ch

    def _opened(self, key: tuple[str, int], fut: asyncio.Future[Channel]) -> None:
        del self.opening[key]
        if not fut.cancelled() and fut.exception() is None:
            self.open[key] = fut.result()

    @staticmethod
    async def _connect(host: str, port: int) -> Channel:
        af = dns.inet.af_for_address(host)
        _, ch = await asyncio.get_running_loop().create_datagram_endpoint(
            Channel, remote_addr=dns.inet.low_level_address_tuple((host, port), af), family=af
        )
        return ch


#: the channels of each running event loop (a loop's go when it is gone)
_CHANNELS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Channels] = (
    weakref.WeakKeyDictionary()
)


def _channels() -> Channels:
    loop = asyncio.get_running_loop()
    got = _CHANNELS.get(loop)
    if got is None:
        got = _CHANNELS[loop] = Channels()
    return got


async def udp(
    qname: str, rtype: str | int, host: str, port: int, timeout: float, *, recursive: bool
) -> dns.message.Message:
    """One try: the answer to (qname, rtype) from host:port, or dns.exception.Timeout, an
    OSError (ConnectionRefusedError for a closed port), or a DNSException for an answer that is
    malformed or not to this question (dnspython's BadResponse)."""
    data = await udp_wire(qname, rtype, host, port, timeout, recursive=recursive)
    return parse(data, qname, rtype, recursive)


async def udp_wire(
    qname: str, rtype: str | int, host: str, port: int, timeout: float, *, recursive: bool
) -> bytes:
    """`udp` without the parsing: the datagram that came back with the query's id."""
    _, _, wire = query(qname, rtype, recursive)
    ch = await _channels().get(host, port)
    qid = ch.new_id()
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bytes] = loop.create_future()
    ch.pending[qid] = (_question(qname, rtype, recursive), fut)
    timer = loop.call_later(timeout, _expire, fut)
    try:
        assert ch.transport is not None
        ch.transport.sendto(qid.to_bytes(2, "big") + wire[2:])
        return await fut
    finally:
        timer.cancel()
        ch.release(qid)


@lru_cache(maxsize=65536)
def _question(qname: str, rtype: str | int, recursive: bool) -> bytes:
    """The question section as sent, its name lower-cased (an answer may change the case)."""
    qn, _, wire = query(qname, rtype, recursive)
    end = 12 + len(qn.to_wire())
    return wire[12:end].lower() + wire[end : end + 4]


def parse(data: bytes, qname: str, rtype: str | int, recursive: bool) -> dns.message.Message:
    """The datagram `udp_wire` returned, parsed by dnspython and checked to answer the query."""
    qn, rdtype, _ = query(qname, rtype, recursive)
    resp = dns.message.from_wire(data)
    if not _answers(qn, rdtype, resp):
        raise dns.query.BadResponse
    return resp


def _expire(fut: asyncio.Future[bytes]) -> None:
    if not fut.done():
        fut.set_exception(dns.exception.Timeout())


def _answers(qname: dns.name.Name, rdtype: int, r: dns.message.Message) -> bool:
    """dnspython's `Message.is_response` for a query of ours (the id already matched)."""
    if not r.flags & dns.flags.QR or dns.opcode.from_flags(r.flags) != dns.opcode.QUERY:
        return False
    if not r.question and r.rcode() in _NO_QUESTION_OK:
        return True
    if len(r.question) != 1:
        return False
    q = r.question[0]
    return q.rdtype == rdtype and q.rdclass == dns.rdataclass.IN and q.name == qname


async def tcp(
    qname: str, rtype: str | int, host: str, port: int, timeout: float, *, recursive: bool
) -> dns.message.Message:
    """The same question over TCP, for an answer that came back truncated (rare: EDNS)."""
    import dns.asyncquery

    q = dns.message.make_query(name(qname), rtype, use_edns=0, payload=EDNS_PAYLOAD)
    if not recursive:
        q.flags &= ~dns.flags.RD
    return await dns.asyncquery.tcp(q, host, port=port, timeout=timeout)
