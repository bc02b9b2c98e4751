"""Route53's spelling of names and values, and how a change batch is cut, with no boto3 in sight.

Route53 writes TXT character-strings quoted, with octal escapes (`\\052`) for anything outside
printable ASCII, where zone files and dnspython use decimal (`\\042`). Names come back with the
same octal escapes (`\\052.example.com.` for a wildcard). Converting in one place (the escapes
themselves are in rrtypes.py) keeps the provider honest about the exact bytes it sends back in a
DELETE, which Route53 compares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..records import RRset, fqdn
from ..rrtypes import txt_from_strings, txt_strings, txt_strings_octal, unescape

#: Route53 quotas on one ChangeResourceRecordSets request.
MAX_RECORDS = 1000
MAX_CHARS = 32000


def decode_name(name: str) -> str:
    """A Route53 name (octal escapes, maybe no trailing dot) as our canonical FQDN."""
    raw, _ = unescape(name)
    return fqdn(raw.decode("utf-8", errors="replace"))


def parse_txt(value: str) -> list[bytes]:
    """The character-strings of one Route53 TXT value (`"a" "b"`, or a bare word)."""
    return txt_strings_octal(value)


def to_route53(rtype: str, value: str) -> str:
    """One of our canonical values as Route53 wants it written."""
    if rtype == "TXT":
        return txt_from_strings(txt_strings(value), octal=True)
    return value


def from_route53(rtype: str, value: str) -> str:
    """One Route53 value in DNS presentation format (then normalised by RRset)."""
    if rtype == "TXT":
        return txt_from_strings(txt_strings_octal(value))
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
