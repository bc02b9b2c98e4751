"""Route53's spelling of names and values, and how a change batch is cut, with no boto3 in sight.

Route53 writes TXT character-strings quoted, with octal escapes (`\\052`) for anything outside
printable ASCII, where zone files and dnspython use decimal (`\\042`). Names come back with the
same octal escapes (`\\052.example.com.` for a wildcard). Converting in one place keeps the
provider honest about the exact bytes it sends back in a DELETE, which Route53 compares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from ..records import RRset, fqdn, txt_strings

#: Route53 quotas on one ChangeResourceRecordSets request.
MAX_RECORDS = 1000
MAX_CHARS = 32000

_OCTAL = set("01234567")


def _unescape(text: str, stop: str | None = None, start: int = 0) -> tuple[bytes, int]:
    """Bytes of `text` from `start` up to an unescaped `stop` char; `\\ooo` is octal."""
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


def decode_name(name: str) -> str:
    """A Route53 name (octal escapes, maybe no trailing dot) as our canonical FQDN."""
    raw, _ = _unescape(name)
    return fqdn(raw.decode("utf-8", errors="replace"))


def parse_txt(value: str) -> list[bytes]:
    """The character-strings of one Route53 TXT value (`"a" "b"`, or a bare word)."""
    out: list[bytes] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] in " \t":
            i += 1
            continue
        if value[i] == '"':
            chunk, i = _unescape(value, '"', i + 1)
            i += 1  # the closing quote
        else:
            end = i
            while end < n and value[end] not in " \t":
                end += 1
            chunk, _ = _unescape(value[i:end])
            i = end
        out.append(chunk)
    return out or [b""]


def _quote(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):  # " and \
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def to_route53(rtype: str, value: str) -> str:
    """One of our canonical values as Route53 wants it written."""
    if rtype == "TXT":
        return " ".join(_quote(s) for s in txt_strings(value))
    return value


def from_route53(rtype: str, value: str) -> str:
    """One Route53 value in DNS presentation format (then normalised by RRset)."""
    if rtype == "TXT":
        rd = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, parse_txt(value))
        return rd.to_text()
    return value


def rrset_from_route53(raw: dict[str, Any]) -> RRset:
    rtype = raw["Type"]
    values = tuple(from_route53(rtype, r["Value"]) for r in raw.get("ResourceRecords", []))
    return RRset(decode_name(raw["Name"]), rtype, int(raw["TTL"]), values)


def route53_rrset(rrset: RRset) -> dict[str, Any]:
    """The ResourceRecordSet of a CREATE for one of our RRsets."""
    return {
        "Name": rrset.name,
        "Type": rrset.type,
        "TTL": rrset.ttl,
        "ResourceRecords": [{"Value": to_route53(rrset.type, v)} for v in rrset.values],
    }


def weight(changes: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """(records, characters) of some changes as Route53 counts them (an UPSERT counts twice)."""
    records = chars = 0
    for change in changes:
        factor = 2 if change["Action"] == "UPSERT" else 1
        values = [r["Value"] for r in change["ResourceRecordSet"].get("ResourceRecords", [])]
        records += factor * len(values)
        chars += factor * sum(len(v) for v in values)
    return records, chars


def batches(
    groups: list[list[dict[str, Any]]], max_records: int = MAX_RECORDS, max_chars: int = MAX_CHARS
) -> list[list[dict[str, Any]]]:
    """Pack groups of changes (all changes at one name) into as few requests as the quotas allow.

    A group is never split, so no name is ever half-changed between two requests; inside each
    request every DELETE goes before every CREATE (a CNAME can replace an A at the same name).
    """
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = (0, 0)
    for group in groups:
        w = weight(group)
        if current and (used[0] + w[0] > max_records or used[1] + w[1] > max_chars):
            out.append(current)
            current, used = [], (0, 0)
        current.extend(group)
        used = (used[0] + w[0], used[1] + w[1])
    if current:
        out.append(current)
    return [sorted(b, key=lambda c: c["Action"] != "DELETE") for b in out]
