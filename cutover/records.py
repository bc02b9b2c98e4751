"""The RRset value object and the normalisation every provider and check shares.

Providers disagree on spelling (trailing dots, case, how TXT strings are split, MX as one string
or two fields), so everything is brought to one canonical form here and compared only in it.
Values are kept in DNS presentation format (what a zone file or `dig` shows); TXT values keep
their original string split so that values we do not own are written back byte-identical, while
equality joins the strings, as receivers do for SPF and DKIM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from .errors import UsageError
from .rrtypes import HOST_TYPES, mx_fields, quote_string, srv_fields, txt_strings, txt_text
from .rrtypes import TXT_CHUNK as TXT_CHUNK  # re-exported: callers import these from records
from .rrtypes import txt_value as txt_value

# Memoised (pure functions of strings): `validate` normalises every served value and compares it
# with the expected one several times, and dnspython's parser dominated its run time (500 zones:
# 2.5 s of 5 s). Errors are raised, never cached.
_memo = lru_cache(maxsize=1 << 16)


@_memo
def fqdn(name: str, zone: str | None = None) -> str:
    """Absolute, lower-case, punycode name with the trailing dot.

    `@` and relative names are taken relative to `zone` when one is given.
    """
    name = name.strip()
    if zone is not None:
        zone_fq = fqdn(zone)
        if name in ("@", ""):
            return zone_fq
        if not name.endswith("."):
            name = f"{name}.{zone_fq}"
    elif not name.endswith("."):
        name += "."
    try:
        text = dns.name.from_unicode(name).to_text()
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise UsageError(f"invalid DNS name {name!r}: {exc}") from exc
    return text.lower()


def relative(name: str, zone: str) -> str:
    """`name` relative to `zone` for display: `@`, `_dmarc`, `selector1._domainkey`."""
    zone_fq = fqdn(zone)
    if name == zone_fq:
        return "@"
    if name.endswith("." + zone_fq):
        return name[: -len(zone_fq) - 1]
    return name


@_memo
def txt_join(value: str) -> str:
    """The text receivers see: the strings concatenated without separators."""
    return txt_text(txt_strings(value))


def _host(target: str) -> str:
    target = target.strip()
    if target == ".":
        return "."
    return fqdn(target)


@_memo
def normalize_value(rtype: str, value: str) -> str:
    """One value in canonical presentation form; raises UsageError naming the bad value."""
    rtype = rtype.upper()
    value = str(value).strip()
    try:
        if rtype == "TXT":
            if not (value.startswith('"') and value.endswith('"')):
                return txt_value(value)
            return " ".join(quote_string(s) for s in txt_strings(value))
        if rtype == "MX":
            pref, host = mx_fields(value)
            return f"{pref} {_host(host)}"
        if rtype in HOST_TYPES:
            return _host(value)
        if rtype == "SRV":
            priority, weight, port, target = srv_fields(value)
            return f"{priority} {weight} {port} {_host(target)}"
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value)
        return rd.to_text().lower() if rtype in ("A", "AAAA") else rd.to_text()
    except (ValueError, dns.exception.DNSException, UnicodeError) as exc:
        raise UsageError(f"invalid {rtype} value {value!r}: {exc}") from exc


def value_key(rtype: str, value: str) -> str:
    """What two values are compared on: TXT joins its strings, others are already canonical."""
    return txt_join(value) if rtype == "TXT" else value


@dataclass(frozen=True)
class RRset:
    """One name+type with its TTL and values, normalised at construction."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        rtype = self.type.upper()
        object.__setattr__(self, "type", rtype)
        object.__setattr__(self, "name", fqdn(self.name))
        norm = {}
        for v in self.values:
            nv = normalize_value(rtype, v)
            norm.setdefault(value_key(rtype, nv), nv)
        object.__setattr__(self, "values", tuple(norm[k] for k in sorted(norm)))
        object.__setattr__(self, "ttl", int(self.ttl))

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.type)

    def value_keys(self) -> frozenset[str]:
        return frozenset(value_key(self.type, v) for v in self.values)

    def same_values(self, other: RRset | None) -> bool:
        return other is not None and self.value_keys() == other.value_keys()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RRset):
            return NotImplemented
        return self.key == other.key and self.ttl == other.ttl and self.same_values(other)

    def __hash__(self) -> int:
        return hash((self.key, self.ttl, self.value_keys()))

    def with_ttl(self, ttl: int) -> RRset:
        return RRset(self.name, self.type, ttl, self.values)

    def with_values(self, values: Iterable[str]) -> RRset:
        return RRset(self.name, self.type, self.ttl, tuple(values))

    def texts(self) -> list[str]:
        """Values as a receiver reads them (TXT joined), sorted: for display and checks."""
        return sorted(value_key(self.type, v) for v in self.values)

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict) -> RRset:
        return cls(data["name"], data["type"], int(data["ttl"]), tuple(data["values"]))


def index(rrsets: Iterable[RRset]) -> dict[tuple[str, str], RRset]:
    return {r.key: r for r in rrsets}
