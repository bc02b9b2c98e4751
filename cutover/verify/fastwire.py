"""Reading a plain authoritative answer straight from the wire, for validate's own queries.

`dns.message.from_wire` builds a Name for every owner and a hashed, de-duplicated RRset for
every record; at 500 zones that is the largest single cost of `validate` (14 answers a zone).
Validate needs only the rcode, the flags, the values and TTL of the asked name+type, and the
SOA's TTL and minimum in the authority section. `read` takes those from a response of the
common shape (one question, the one we asked; every record in class IN; no TSIG; at most one
OPT, in the additional section; not truncated) and says None for anything else, which then goes
through dnspython as before. Every record's data is still parsed by dnspython's rdata parser (so a malformed record is still a malformed answer), and the
values are dnspython's presentation text: the same values, TTL and rcode as `from_wire` gives
(`tests/test_fastwire.py` compares both on real answers).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QTAIL = struct.Struct("!HH")
_IN = dns.rdataclass.IN
_OPT, _SOA, _TSIG = dns.rdatatype.OPT, dns.rdatatype.SOA, dns.rdatatype.TSIG


@dataclass(frozen=True)
class Read:
    flags: int
    rcode: int
    ttl: int | None  # of the asked name+type; None when the answer has no such records
    values: tuple[str, ...]
    soa: tuple[int, int] | None  # (TTL, minimum) of the authority section's SOA


def read(data: bytes, qname: dns.name.Name, rdtype: int) -> Read | None:
    """The parts of `data` validate reads, or None when it is not of the common shape (or is
    malformed): the caller then parses it with dnspython, which decides."""
    parsed = _parse(data, _labels(qname), rdtype)
    if parsed is None:
        return None
    flags, rcode, records = parsed
    qlabels = _labels(qname)
    values: list[str] = []
    ttl: int | None = None
    soa: tuple[tuple[bytes, ...], int, int] | None = None
    for section, owner, rtype, rttl, rd in records:
        if section == 1 and rtype == rdtype and owner == qlabels:
            values.append(rd.to_text())
            ttl = rttl if ttl is None else min(ttl, rttl)
        elif section == 2 and rtype == _SOA:
            if soa is None:
                soa = (owner, rttl, rd.minimum)  # type: ignore[attr-defined]
            elif owner == soa[0]:
                soa = (owner, min(soa[1], rttl), soa[2])
    return Read(flags, rcode, ttl, tuple(values), (soa[1], soa[2]) if soa else None)


@dataclass(frozen=True)
class Reply:
    """A recursive resolver's answer as lint reads it: what `dns.resolver.Answer` would hold
    (`rdatas`: the RRset at the end of the CNAME chain, None when there is none), the CNAME at
    the name asked, and whether the name does not exist; `data` to build the Answer itself
    when a library asks for one."""

    data: bytes
    rcode: int
    rdatas: tuple[dns.rdata.Rdata, ...] | None
    cname: tuple[dns.rdata.Rdata, ...]
    nxdomain: bool


#: dnspython's `dns.message.MAX_CHAIN`: longer CNAME chains are an error (left to dnspython)
MAX_CHAIN = 16


def read_reply(data: bytes, qname: dns.name.Name, rdtype: int) -> Reply | None:
    """The Reply for a NOERROR or NXDOMAIN answer of the common shape, CNAMEs followed in the
    answer section as `Message.resolve_chaining` follows them; None for anything else (another
    rcode, a chain too long, NXDOMAIN with an answer, an unusual message): the caller then
    parses it with dnspython, which decides."""
    qlabels = _labels(qname)
    parsed = _parse(data, qlabels, rdtype)
    if parsed is None:
        return None
    _, rcode, records = parsed
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    rrsets: dict[tuple[tuple[bytes, ...], int], list[dns.rdata.Rdata]] = {}
    for section, owner, rtype, _, rd in records:
        if section == 1:
            rrset = rrsets.setdefault((owner, rtype), [])
            if rd not in rrset:  # an RRset is a set (dnspython drops repeats)
                rrset.append(rd)
    name, answer = qlabels, None
    for _ in range(MAX_CHAIN):
        answer = rrsets.get((name, rdtype))
        if answer is not None or rdtype == dns.rdatatype.CNAME:
            break
        cname = rrsets.get((name, dns.rdatatype.CNAME))
        if cname is None:
            break
        name = _labels(cname[0].target)  # type: ignore[attr-defined]
    else:
        return None  # the chain is too long
    if rcode == dns.rcode.NXDOMAIN and answer is not None:
        return None
    cname = tuple(rrsets.get((qlabels, dns.rdatatype.CNAME), ()))
    rdatas = tuple(answer) if answer is not None else None
    return Reply(data, rcode, rdatas, cname, rcode == dns.rcode.NXDOMAIN)


def _labels(qname: dns.name.Name) -> tuple[bytes, ...]:
    return tuple(label.lower() for label in qname.labels[:-1])


Record = tuple[int, tuple[bytes, ...], int, int, dns.rdata.Rdata]  # section, owner, type, TTL, data


def _parse(
    data: bytes, qlabels: tuple[bytes, ...], rdtype: int
) -> tuple[int, int, list[Record]] | None:
    try:
        return _records(data, qlabels, rdtype)
    except (IndexError, struct.error, ValueError, dns.exception.DNSException):
        return None


def _records(
    data: bytes, qlabels: tuple[bytes, ...], rdtype: int
) -> tuple[int, int, list[Record]] | None:
    """(flags, rcode, every record but the OPT) of a response of the common shape."""
    _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data, 0)
    if not flags & dns.flags.QR or flags & dns.flags.TC or (flags >> 11) & 0xF or qdcount != 1:
        return None
    pos, owner = _name(data, 12)
    qtype, qclass = _QTAIL.unpack_from(data, pos)
    if owner != qlabels or qtype != rdtype or qclass != _IN:
        return None
    pos += 4
    records: list[Record] = []
    ext_rcode, opt = 0, False
    for section, count in ((1, ancount), (2, nscount), (3, arcount)):
        for _ in range(count):
            pos, owner = _name(data, pos)
            rtype, rclass, rttl, rdlen = _RR.unpack_from(data, pos)
            pos += 10
            end = pos + rdlen
            if end > len(data):
                return None
            if rtype == _OPT:
                if section != 3 or opt or owner:
                    return None
                opt, ext_rcode = True, rttl >> 24
                pos = end
                continue
            if rclass != _IN or rtype == _TSIG:
                return None
            rd = dns.rdata.from_wire(rclass, rtype, data, pos, rdlen)
            records.append((section, owner, rtype, 0 if rttl > 0x7FFFFFFF else rttl, rd))
            pos = end
    if pos != len(data):
        return None  # trailing junk
    return flags, (flags & 0xF) | (ext_rcode << 4), records


def _name(data: bytes, pos: int) -> tuple[int, tuple[bytes, ...]]:
    """(position after the name, its labels lower-cased), following compression pointers
    backwards only, as dnspython does."""
    labels: list[bytes] = []
    after = -1
    limit = pos
    while True:
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n >= 0xC0:
            target = ((n & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise dns.exception.FormError("bad compression pointer")
            if after < 0:
                after = pos + 2
            pos = limit = target
            continue
        if n > 63 or pos + 1 + n > len(data):
            raise dns.exception.FormError("bad label")
        labels.append(data[pos + 1 : pos + 1 + n].lower())
        pos += 1 + n
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        raise dns.exception.FormError("name too long")  # dnspython's NameTooLong
    return (after if after >= 0 else pos), tuple(labels)
