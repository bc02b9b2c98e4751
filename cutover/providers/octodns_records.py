"""octoDNS records <-> our RRsets, through octoDNS's own presentation-format carrier (`Rrset`).

octoDNS (>= 1.22) converts each record type to and from DNS presentation format itself
(`Record.to_rrset()`, `Record.from_rrset()`), so no per-type field mapping lives here: MX, SRV,
CAA and TXT (its `\\;` escaping, its 255-byte re-splitting) are octoDNS's business, and our
RRset compares TXT on the joined text, so a re-split is never seen as a change.
"""

from __future__ import annotations

from typing import Any

from ..errors import ProviderError, UsageError
from ..records import RRset

_validators_enabled = False


def enable_validators() -> None:
    """What octoDNS's Manager does at start (the `legacy` validator sets), once per process;
    without it every record construction logs a warning."""
    global _validators_enabled
    if _validators_enabled:
        return
    from octodns.record import Record
    from octodns.zone import Zone

    Record.enable_validators(("legacy",))
    Zone.enable_zone_validators(("legacy",))
    _validators_enabled = True


def key_of(record: Any) -> tuple[str, str]:
    """(absolute lower-case name, type) of an octoDNS record, as our RRset keys are."""
    return (record.fqdn.lower(), record._type)


def to_rrset(record: Any) -> RRset:
    """One octoDNS record as our RRset; a value we cannot parse is a provider error naming it."""
    rr = record.to_rrset()
    try:
        return RRset(rr.name, rr._type, int(rr.ttl), tuple(rr.rdatas))
    except UsageError as exc:
        raise ProviderError(
            f"{record.fqdn} {record._type}: octoDNS returned a value the tool cannot read: "
            f"{exc.message}"
        ) from exc


def to_record(zone: Any, rrset: RRset, source: Any = None) -> Any:
    """Our RRset as an octoDNS record of `zone` (validated by octoDNS: a refusal is an error)."""
    from octodns.record import Record
    from octodns.record.rr import Rrset

    return Record.from_rrset(
        zone, Rrset(rrset.name, rrset.type, rrset.ttl, list(rrset.values)), source=source
    )
