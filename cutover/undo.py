"""Compare-and-swap restores: put `before` back only where the live record is what the run wrote.

A rollback on a bad night must not undo a colleague's fix. For every RRset a run changed the
journal holds `before` and `after`; the live RRset decides:

- live == after (or an intermediate RRset the run journaled in a `zone_step`): the run's write
  is still there, restore `before`;
- live == before: already restored (or never written: a zone whose write was in doubt);
- anything else: someone wrote it since. Left alone and reported, unless `--force`.

In a shared RRset (the apex TXT) the comparison is on the values the run changed plus any SPF
value, and the TTL; every other value (a `google-site-verification=` added since) is carried
through untouched and never blocks the rollback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .plan import Change, Plan, is_spf
from .records import RRset, value_key


@dataclass(frozen=True)
class Written:
    """One RRset a unit changed: as it was before its first run, as its last run left it."""

    zone: str
    before: RRset | None
    after: RRset | None
    shared: bool = False
    #: what intermediate writes (`zone_step`) left at this key on the way to `after`
    steps: tuple[RRset | None, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.before or self.after).key  # type: ignore[union-attr]


@dataclass(frozen=True)
class Conflict:
    zone: str
    key: tuple[str, str]
    live: RRset | None
    wrote: RRset | None

    def line(self) -> str:
        live = " | ".join(self.live.texts()) if self.live else "(absent)"
        return f"{self.key[0]} {self.key[1]}: changed since the run (now {live})"


def unknown_zones(runs: Iterable) -> set[str]:
    """Zones some run may have written with no `zone_applied` from any run to say so."""
    runs = list(runs)
    applied = {z for r in runs for z in r.applied}
    return {z for r in runs for z in r.unknown()} - applied


def written_by(runs: Iterable) -> dict[str, dict[tuple[str, str], Written]]:
    """Per zone, what the runs wrote or may have written: earliest before, latest after."""
    out: dict[str, dict[tuple[str, str], Written]] = {}
    for run in runs:
        for zone in run.written():
            slot = out.setdefault(zone, {})
            stepped = _stepped(run.steps.get(zone, []))
            for data in run.began.changes.get(zone, []):
                change = Change.from_dict(data)
                first = slot.get(change.key)
                before = first.before if first else change.before
                steps = (first.steps if first else ()) + stepped.get(change.key, ())
                shared = bool(data.get("shared"))
                slot[change.key] = Written(zone, before, change.after, shared, steps)
    return out


def _stepped(steps: Iterable) -> dict[tuple[str, str], tuple[RRset | None, ...]]:
    """Per key, the RRsets a run's `zone_step` events say it wrote (None: deleted)."""
    out: dict[tuple[str, str], tuple[RRset | None, ...]] = {}
    for step in steps:
        for data in step.rrsets:
            rrset = RRset.from_dict(data["after"]) if data.get("after") else None
            key = (data["name"], data["type"])
            out[key] = out.get(key, ()) + (rrset,)
    return out


def _owned(rrset: RRset | None, changed: frozenset[str]) -> frozenset[str]:
    if rrset is None:
        return frozenset()
    return frozenset(k for k in rrset.value_keys() if k in changed or is_spf(k))


def _changed(w: Written) -> frozenset[str]:
    """The values of a shared RRset the run changed (added or removed)."""
    rtype = w.key[1]
    before = {value_key(rtype, v) for v in (w.before.values if w.before else ())}
    after = {value_key(rtype, v) for v in (w.after.values if w.after else ())}
    return frozenset(before ^ after)


def _ours(w: Written, r: RRset | None) -> tuple[int | None, frozenset[str]]:
    """What a rollback compares in a shared RRset: its TTL, our values and any SPF value."""
    return (r.ttl if r else None, _owned(r, _changed(w)))


def halfway(w: Written, live: RRset | None) -> bool:
    """An MX swap made in two writes (the octoDNS bridge's `mx_update: two-step`: the union of
    old and new first, so MX is never empty) whose run died between them: the union is the
    run's write too, and the rollback takes it back to `before`. The bridge journals the union
    as a `zone_step` (then `Written.steps` holds it); this covers what no step line says: a
    journal written before `zone_step` existed, and a kill between the union write and its
    line."""
    if w.key[1] != "MX" or live is None or w.before is None or w.after is None:
        return False
    union = w.before.value_keys() | w.after.value_keys()
    return live.ttl == w.after.ttl and live.value_keys() == union


def holds_after(w: Written, live: RRset | None) -> bool:
    """Whether the live RRset is (in the values we own) what the run wrote."""
    if w.shared:
        return any(_ours(w, live) == _ours(w, r) for r in (w.after, *w.steps))
    return live == w.after or live in w.steps or halfway(w, live)


def restore(w: Written, live: RRset | None, force: bool) -> tuple[RRset | None, Conflict | None]:
    """What the RRset becomes (the live one when nothing is to change) and any conflict."""
    already = _ours(w, live) == _ours(w, w.before) if w.shared else live == w.before
    if already:
        return live, None
    if not holds_after(w, live) and not force:
        return live, Conflict(w.zone, w.key, live, w.after)
    if not w.shared:
        return w.before, None
    rtype = w.key[1]
    ours = _owned(live, _changed(w))
    kept = [v for v in (live.values if live else ()) if value_key(rtype, v) not in ours]
    values = kept + [
        v
        for v in (w.before.values if w.before else ())
        if value_key(rtype, v) in _owned(w.before, _changed(w))
    ]
    if not values:
        return None, None
    ttl = w.before.ttl if w.before else (live or w.after).ttl  # type: ignore[union-attr]
    return RRset(w.key[0], rtype, ttl, tuple(values)), None


def plan_restore(
    zone: str,
    wrote: dict[tuple[str, str], Written],
    live: Iterable[RRset],
    force: bool,
    unknown: bool = False,
) -> tuple[Plan, list[Conflict]]:
    """The rollback plan of one zone (changes made against the live records) and its conflicts.

    `unknown`: the run may or may not have written this zone (it died around that write). A
    zone's write is one atomic change, so if no RRset holds what the run wrote, the run never
    wrote it: the zone is left alone, whatever someone changed there since."""
    now = {r.key: r for r in live}
    plan = Plan(zone=zone, stage="rollback")
    if unknown and not any(holds_after(w, now.get(k)) for k, w in wrote.items()):
        return plan, []
    conflicts = []
    for key, w in sorted(wrote.items()):
        current = now.get(key)
        target, conflict = restore(w, current, force)
        if conflict is not None:
            conflicts.append(conflict)
        elif target != current:
            plan.changes.append(Change(current, target))
    plan.settle(now, wrote)
    return plan, conflicts
