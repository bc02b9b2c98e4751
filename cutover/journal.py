"""Reading the journal: which stages are in place, what rollback undoes, when a gate opens.

The journal is append-only, so everything here is derived from it and never stored twice. The
undo stack holds one unit per stage: a stage that failed halfway and was re-run is one unit with
several snapshots, so one rollback restores every zone either run changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ORDER = ("prepare", "cutover", "finalize")


@dataclass
class Unit:
    """One stage on the undo stack, with every snapshot its runs took, oldest first."""

    stage: str
    snapshots: list[str] = field(default_factory=list)
    complete: bool = False
    applied_at: str | None = None
    t_old: int = 0
    forced: bool = False


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def stack(entries: list[dict[str, Any]]) -> list[Unit]:
    """The stages in place, oldest first, after replaying applies, failures and rollbacks."""
    units: list[Unit] = []
    for e in entries:
        event = e.get("event")
        if event in ("applied", "failed") and e.get("stage") in ORDER:
            top = units[-1] if units and units[-1].stage == e["stage"] else None
            if top is None:
                top = Unit(stage=e["stage"])
                units.append(top)
            if e.get("snapshot") and e["snapshot"] not in top.snapshots:
                top.snapshots.append(e["snapshot"])
            if event == "applied":
                top.complete = True
                top.applied_at = e.get("time")
                top.t_old = max(top.t_old, int(e.get("t_old", 0)))
                top.forced = top.forced or bool(e.get("forced"))
        elif event == "rolled_back":
            undone = set(e.get("snapshots", []))
            if (
                not undone
                and units
                and units[-1].stage == e.get("stage")
                and not units[-1].snapshots
            ):
                units.pop()  # undoing a stage that changed nothing
                continue
            hit = [i for i, u in enumerate(units) if undone & set(u.snapshots)]
            if hit:
                del units[min(hit) :]  # undoing a unit undoes everything applied after it
    return units


def current_stage(units: list[Unit]) -> str | None:
    """The last stage fully in place, or None before prepare."""
    for unit in reversed(units):
        if unit.complete:
            return unit.stage
    return None


def next_stage(units: list[Unit]) -> str:
    if units and not units[-1].complete:
        return units[-1].stage  # a stage that failed halfway is next until it completes
    cur = current_stage(units)
    if cur is None:
        return "prepare"
    i = ORDER.index(cur)
    return ORDER[min(i + 1, len(ORDER) - 1)]


def find(units: list[Unit], stage: str) -> Unit | None:
    for unit in reversed(units):
        if unit.stage == stage:
            return unit
    return None


def gate_opens(units: list[Unit]) -> datetime | None:
    """When `cutover` may run: prepare applied and verified, plus T_old. None: not prepared."""
    prep = find(units, "prepare")
    if prep is None or not prep.complete or not prep.applied_at:
        return None
    # +1 s: journal times are whole seconds, and a gate must never open early
    return parse_time(prep.applied_at) + timedelta(seconds=prep.t_old + 1)
