"""The diff between what a stage wants and what a zone serves, under the ownership rules.

A `Want` is what a stage asks for at one name+type. Most are owned whole; the apex TXT RRset is
shared, so its Want is `partial`: only the SPF value and the verification values our profiles
name are ours, and every other value (google-site-verification=, anybody's token) is carried
along untouched, with its original string split. Each `Change` records the RRset the plan was
made against (`before`), so a provider can refuse to apply when the live record moved since.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ChecksFailed, UsageError
from .records import RRset, fqdn, normalize_value, value_key

UNTOUCHABLE = {"SOA", "NS"}


def is_spf(text: str) -> bool:
    """RFC 7208 §4.5: `v=spf1` followed by a space or the end; `v=spf10` is not SPF."""
    low = text.strip().lower()
    return low == "v=spf1" or low.startswith("v=spf1 ")


@dataclass(frozen=True)
class Want:
    """What a stage wants at one name+type.

    values None: keep whatever values are live and only set the TTL (nothing is created).
    partial: merge into the live RRset, replacing only the values in `owned` and any SPF value.
    lower_only: the TTL never goes above the live one (a stage that lowers TTLs ahead of the
    switch must not make resolvers hold an answer longer than they do today).
    """

    name: str
    type: str
    ttl: int
    values: tuple[str, ...] | None
    partial: bool = False
    owned: frozenset[str] = frozenset()
    lower_only: bool = False

    def ttl_over(self, current: RRset | None) -> int:
        return min(self.ttl, current.ttl) if self.lower_only and current else self.ttl

    def merge(self, current: RRset | None) -> RRset | None:
        """The full RRset this Want leaves at its name, or None for no RRset at all."""
        ttl = self.ttl_over(current)
        if self.values is None:
            return current.with_ttl(ttl) if current else None
        values = [normalize_value(self.type, v) for v in self.values]
        if self.partial and current is not None:
            live = {value_key(self.type, v): v for v in current.values}
            ours = {value_key(self.type, v) for v in values}
            kept = [
                v
                for k, v in live.items()
                if k not in self.owned and k not in ours and not is_spf(k)
            ]
            # a value we want that is already live keeps its live spelling (its string split)
            values = kept + [live.get(value_key(self.type, v), v) for v in values]
        if not values:
            return None
        return RRset(self.name, self.type, ttl, tuple(values))


@dataclass(frozen=True)
class Change:
    """One RRset going from `before` (as read when planning) to `after`."""

    before: RRset | None
    after: RRset | None
    #: a shared RRset (the apex TXT): only some of its values are ours
    shared: bool = False

    @property
    def action(self) -> str:
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        return "update"

    @property
    def rrset(self) -> RRset:
        return self.after or self.before  # type: ignore[return-value]

    @property
    def key(self) -> tuple[str, str]:
        return self.rrset.key

    def to_dict(self) -> dict:
        out = {
            "action": self.action,
            "name": self.rrset.name,
            "type": self.rrset.type,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
        }
        if self.shared:
            out["shared"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Change:
        before = RRset.from_dict(data["before"]) if data.get("before") else None
        after = RRset.from_dict(data["after"]) if data.get("after") else None
        return cls(before, after, bool(data.get("shared")))


@dataclass
class Plan:
    """The changes for one zone in one stage: applied as one atomic change where possible."""

    zone: str
    changes: list[Change] = field(default_factory=list)
    stage: str = ""
    #: every managed RRset as the zone will hold it once applied (what lint checks)
    result: dict[tuple[str, str], RRset] = field(default_factory=dict, repr=False, compare=False)
    #: a rollback's hints from the snapshot: how the host wrote an RRset the run deleted
    #: (Provider.source_text), by key; not part of the plan's identity
    sources: dict[tuple[str, str], dict] = field(default_factory=dict, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict:
        return {
            "zone": self.zone,
            "stage": self.stage,
            "changes": [c.to_dict() for c in self.changes],
        }

    def sha256(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def settle(self, live: dict[tuple[str, str], RRset], keys: Iterable) -> None:
        """Fill `result`: the RRsets at `keys` as the zone will hold them once applied."""
        wanted = set(keys)
        self.result = {k: r for k, r in live.items() if k in wanted}
        for change in self.changes:
            if change.after is None:
                self.result.pop(change.key, None)
            else:
                self.result[change.key] = change.after

    @property
    def befores(self) -> list[RRset]:
        return [c.before for c in self.changes if c.before is not None]


def diff(zone: str, wants: Iterable[Want], current: Iterable[RRset], stage: str = "") -> Plan:
    """Plan the changes that take `current` to what `wants` asks, touching nothing else."""
    zone = fqdn(zone)
    live = {r.key: r for r in current}
    plan = Plan(zone=zone, stage=stage)
    seen: set[tuple[str, str]] = set()
    for want in wants:
        key = (fqdn(want.name), want.type.upper())
        if key[1] in UNTOUCHABLE:
            raise UsageError(f"{key[0]} {key[1]}: the tool never changes SOA or NS records")
        if key in seen:
            raise UsageError(f"{key[0]} {key[1]} is rendered twice for one stage")
        seen.add(key)
        if not (key[0] == zone or key[0].endswith("." + zone)):
            raise UsageError(f"{key[0]} is outside zone {zone}")
        before = live.get(key)
        after = want.merge(before)
        if before == after:
            continue
        plan.changes.append(Change(before, after, want.partial))
    plan.settle(live, seen)
    _refuse_zero_mx(zone, plan, live)
    _refuse_cname_conflicts(plan, live)
    plan.changes.sort(key=lambda c: (c.key[0].count("."), c.key))
    return plan


def _refuse_zero_mx(zone: str, plan: Plan, live: dict[tuple[str, str], RRset]) -> None:
    for change in plan.changes:
        if change.key == (zone, "MX") and change.after is None:
            raise ChecksFailed(
                f"{zone}: the plan would delete every MX record (mail would go to the A record)",
                "render a replacement MX set in the same stage",
            )


def _refuse_cname_conflicts(plan: Plan, live: dict[tuple[str, str], RRset]) -> None:
    """RFC 1034 §3.6.2: a CNAME cannot share its name with other data (an old autodiscover A)."""
    after = dict(live)
    for change in plan.changes:
        if change.after is None:
            after.pop(change.key, None)
        else:
            after[change.key] = change.after
    names: dict[str, list[str]] = {}
    for name, rtype in after:
        names.setdefault(name, []).append(rtype)
    for change in plan.changes:
        name = change.key[0]
        types = sorted(names.get(name, []))
        if change.after is not None and "CNAME" in types and len(types) > 1:
            raise ChecksFailed(
                f"{name}: the plan would leave a CNAME beside {', '.join(t for t in types if t != 'CNAME')}"
                " records at the same name",
                "remove or migrate the other records at that name first",
            )
