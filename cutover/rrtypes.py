"""Record-type knowledge in one place: TXT strings, MX and SRV fields, host targets, dnspython.

Every provider speaks DNS presentation form (what a zone file or `dig` shows) to records.py and
its host's own shape to the host: Cloudflare's `priority`/`content`/`data` fields, Route53's
octal-escaped TXT, dnspython rdatasets for RFC 2136 and zone files. The conversions between
them live here so that a rule (TXT split at 255 bytes, MX is "preference host.") is written
once. Canonical spelling of names (case, punycode) stays in records.py, which builds on this.
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype

TXT_CHUNK = 255  # bytes in one TXT character-string (RFC 1035 3.3)
#: Types whose whole value is one host name.
HOST_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME"})
#: The types mail profiles render (and so the tool may own at a name).
MAIL_TYPES = frozenset({"MX", "TXT", "CNAME", "SRV"})

_OCTAL = set("01234567")


# ---------------------------------------------------------------- TXT


def txt_strings(value: str) -> list[bytes]:
    """The character-strings of a TXT value in presentation format (decimal escapes)."""
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, value)
    return list(rd.strings)  # type: ignore[attr-defined]


def quote_string(chunk: bytes, octal: bool = False) -> str:
    """One character-string quoted; outside printable ASCII as `\\ddd` (decimal, zone files
    and dnspython) or, with `octal`, as Route53 writes it."""
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):  # " and \
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}" if octal else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def txt_from_strings(strings: Iterable[bytes], octal: bool = False) -> str:
    """A TXT value from its character-strings, each kept as it is (no re-split)."""
    return " ".join(quote_string(s, octal) for s in strings)


def txt_split(text: str) -> list[bytes]:
    """A plain text as <= 255-byte character-strings (UTF-8; lone surrogates kept as bytes)."""
    data = text.encode("utf-8", errors="surrogateescape")
    return [data[i : i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]


def txt_value(text: str) -> str:
    """Presentation form of a plain text, split into <= 255-byte strings (our own write form)."""
    return txt_from_strings(txt_split(text))


def txt_text(strings: Iterable[bytes]) -> str:
    """The text receivers see: the strings concatenated without separators."""
    return b"".join(strings).decode("utf-8", errors="surrogateescape")


def unescape(text: str, stop: str | None = None, start: int = 0) -> tuple[bytes, int]:
    """Bytes of `text` from `start` up to an unescaped `stop` char, and where it stopped;
    `\\ooo` is octal, as in Route53's spelling of TXT values and names."""
    buf = bytearray()
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if stop is not None and ch == stop:
            return bytes(buf), i
        if ch == "\\" and i + 1 < n:
            digits = text[i + 1 : i + 4]
            if len(digits) == 3 and set(digits) <= _OCTAL:
                buf.append(int(digits, 8) & 0xFF)
                i += 4
                continue
            buf.extend(text[i + 1].encode("utf-8"))
            i += 2
            continue
        buf.extend(ch.encode("utf-8"))
        i += 1
    return bytes(buf), i


def txt_strings_octal(value: str) -> list[bytes]:
    """The character-strings of a TXT value with octal escapes (`"a" "b"`, or a bare word)."""
    out: list[bytes] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] in " \t":
            i += 1
            continue
        if value[i] == '"':
            chunk, i = unescape(value, '"', i + 1)
            i += 1  # the closing quote
        else:
            end = i
            while end < n and value[end] not in " \t":
                end += 1
            chunk, _ = unescape(value[i:end])
            i = end
        out.append(chunk)
    return out or [b""]


# ---------------------------------------------------------------- MX, SRV, host targets


def host_value(target: str) -> str:
    """A host name as written in a value: absolute, with its trailing dot."""
    return target.strip().rstrip(".") + "."


def bare_host(target: str) -> str:
    """A host name without its trailing dot, as APIs such as Cloudflare's take it."""
    return target.rstrip(".")


def mx_fields(value: str) -> tuple[int, str]:
    """(preference, host as written) of an MX value; ValueError names what is wrong."""
    parts = value.split()
    if len(parts) != 2:
        raise ValueError("MX must be 'preference host'")
    pref = int(parts[0])
    if not 0 <= pref <= 65535:
        raise ValueError("MX preference must be 0..65535")
    return pref, parts[1]


def mx_value(preference: int, host: str) -> str:
    """An MX value from its fields."""
    return f"{int(preference)} {host_value(host)}"


def srv_fields(value: str) -> tuple[int, int, int, str]:
    """(priority, weight, port, target as written) of an SRV value."""
    parts = value.split()
    if len(parts) != 4:
        raise ValueError("SRV must be 'priority weight port target'")
    priority, weight, port = (int(p) for p in parts[:3])
    return priority, weight, port, parts[3]


def srv_value(priority: int, weight: int, port: int, target: str) -> str:
    """An SRV value from its fields."""
    return f"{int(priority)} {int(weight)} {int(port)} {host_value(target)}"


# ---------------------------------------------------------------- dnspython


def rdataset_values(rdataset: Iterable[dns.rdata.Rdata]) -> tuple[str, ...]:
    """The values of a dnspython rdataset (or answer RRset) in presentation form."""
    return tuple(rd.to_text() for rd in rdataset)


def to_rdataset(rtype: str, ttl: int, values: Iterable[str]) -> dns.rdataset.Rdataset:
    """A dnspython rdataset of presentation-form values, for UPDATE messages and zone edits."""
    rdtype = dns.rdatatype.from_text(rtype)
    rds = dns.rdataset.Rdataset(dns.rdataclass.IN, rdtype)
    rds.update_ttl(ttl)  # set before adding: it only lowers later
    for value in values:
        rds.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value))
    return rds
