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
    try:
        return _read(data, _labels(qname), rdtype)
    except (IndexError, struct.error, ValueError, dns.exception.DNSException):
        return None


def _labels(qname: dns.name.Name) -> tuple[bytes, ...]:
    return tuple(label.lower() for label in qname.labels[:-1])


def _read(data: bytes, qlabels: tuple[bytes, ...], rdtype: int) -> Read | None:
    _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data, 0)
    if not flags & dns.flags.QR or flags & dns.flags.TC or (flags >> 11) & 0xF or qdcount != 1:
        return None
    pos, owner = _name(data, 12)
    qtype, qclass = _QTAIL.unpack_from(data, pos)
    if owner != qlabels or qtype != rdtype or qclass != _IN:
        return None
    pos += 4
    values: list[str] = []
    ttl: int | None = None
    soa: tuple[tuple[bytes, ...], int, int] | None = None
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
            rttl = 0 if rttl > 0x7FFFFFFF else rttl
            if section == 1 and rtype == rdtype and owner == qlabels:
                values.append(rd.to_text())
                ttl = rttl if ttl is None else min(ttl, rttl)
            elif section == 2 and rtype == _SOA:
                if soa is None:
                    soa = (owner, rttl, rd.minimum)  # type: ignore[attr-defined]
                elif owner == soa[0]:
                    soa = (owner, min(soa[1], rttl), soa[2])
            pos = end
    if pos != len(data):
        return None  # trailing junk
    rcode = (flags & 0xF) | (ext_rcode << 4)
    return Read(flags, rcode, ttl, tuple(values), (soa[1], soa[2]) if soa else None)


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
    return (after if after >= 0 else pos), tuple(labels)
