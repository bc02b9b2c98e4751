"""The write-ahead journal: typed events, and the undo stack replayed from them.

A run (one stage or one rollback) writes `began` before its first provider write, holding every
RRset it plans to change (before and after) per zone, then `zone_applied` after each zone's
write returns (preceded by a `zone_step` for each intermediate write of a provider that writes a
zone in several calls, such as the octoDNS bridge's MX union), and one closing event:
`completed` (or `rolled_back` for a rollback), `failed` or `interrupted`. A run with no closing
event died where no handler could run (SIGKILL, power): its zones after the last `zone_applied`
are "unknown" (unless a `zone_step` says the next one was written), and rollback settles them by
comparing the live records with what the run planned. Everything here is derived from the
append-only journal and never stored twice.

Journals written before this format (`applied`/`failed` events with a snapshot id and no
`began`) still replay: their units roll back from the snapshot, as they did then.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .stage import NAMES, ORDER, get_stage


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def new_run_id(kind: str, now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{kind}-{secrets.token_hex(3)}"


# ------------------------------------------------------------------ events


@dataclass
class Began:
    """Durable before the first provider write: what the run will change, zone by zone.

    `changes[zone]` is a list of Change dicts (plan.Change.to_dict) with a `shared` flag on a
    shared RRset (the apex TXT); `zones` is the order the zones are applied in. A rollback run
    names the runs it undoes in `undoes` (or the snapshot it restores in `restores`).
    """

    run: str
    stage: str
    time: str
    who: str
    kind: str = "stage"  # "stage" | "rollback"
    snapshot: str | None = None
    zones: list[str] = field(default_factory=list)
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    plan_sha256: dict[str, str] = field(default_factory=dict)
    forced: bool = False
    forced_reason: str | None = None
    undoes: list[str] = field(default_factory=list)
    restores: str | None = None
    #: the longest TTL a resolver may hold for a record this run changes (the cutover gate)
    t_old: int = 0
    #: cutover only, with a `probe:` section: what the SMTP probe of the new MX found
    probe: dict[str, Any] | None = None
    #: MTA-STS policy files the run publishes before any zone write: domain -> {before,
    #: after, location} (the file texts; None: no file)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    event: str = "began"


@dataclass
class ZoneApplied:
    run: str
    zone: str
    time: str
    change_id: str | None = None
    event: str = "zone_applied"


@dataclass
class ZoneStep:
    """An intermediate write inside one zone's apply (the octoDNS bridge's MX union before the
    final set), journaled right after the provider made it: a run that dies before the zone's
    `zone_applied` is known to have written the zone, and `rrsets` (RRset dicts; `after: null`
    for a key the step deleted) count for rollback as what the run wrote, besides `after`."""

    run: str
    zone: str
    time: str
    step: int
    note: str
    rrsets: list[dict[str, Any]] = field(default_factory=list)
    event: str = "zone_step"


@dataclass
class PolicyPublished:
    """A domain's MTA-STS policy file was written and read back (before any zone write, so
    the `_mta-sts` id that announces it changes only once it is there)."""

    run: str
    domain: str
    time: str
    sha256: str | None
    location: str
    event: str = "policy_published"


@dataclass
class Completed:
    """The stage is in place: every zone applied and seen served (`verified` says by whom)."""

    run: str
    time: str
    t_old: int = 0
    verified: str | None = None
    event: str = "completed"


@dataclass
class Failed:
    """The run stopped on an error. `nothing_written`: the failing zone certainly unchanged."""

    run: str
    time: str
    error: str
    zone: str | None = None
    nothing_written: bool = False
    event: str = "failed"


@dataclass
class Interrupted:
    """A signal stopped the run at a zone boundary; `in_flight` names a zone whose write had
    started and whose outcome is not known (None when the signal waited for the boundary)."""

    run: str
    time: str
    signal: str
    in_flight: str | None = None
    event: str = "interrupted"


@dataclass
class RolledBack:
    """A rollback run ended. `complete`: every RRset restored, so the units it undid leave the
    stack; with `conflicts` left (someone's later edit) the unit stays for `--force`."""

    run: str
    time: str
    undoes: list[str] = field(default_factory=list)
    restores: str | None = None
    complete: bool = True
    conflicts: list[str] = field(default_factory=list)
    verified: str | None = None
    event: str = "rolled_back"


Event = (
    Began | ZoneApplied | ZoneStep | PolicyPublished | Completed | Failed | Interrupted | RolledBack
)
EVENTS: dict[str, type] = {
    "began": Began,
    "zone_applied": ZoneApplied,
    "zone_step": ZoneStep,
    "policy_published": PolicyPublished,
    "completed": Completed,
    "failed": Failed,
    "interrupted": Interrupted,
    "rolled_back": RolledBack,
}


def to_json(event: Event) -> dict[str, Any]:
    return asdict(event)


def from_json(data: dict[str, Any]) -> Event | dict[str, Any] | None:
    """A typed event; a legacy entry (no `run`) is returned as its dict; None: not an event."""
    cls = EVENTS.get(str(data.get("event")))
    if cls is None or "run" not in data:
        return data if data.get("event") in ("applied", "failed", "rolled_back") else None
    known = cls.__dataclass_fields__
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None  # a required field is missing: not an event we can use


# ------------------------------------------------------------------ replay


@dataclass
class Run:
    """One run of a stage as the journal tells it."""

    began: Began
    applied: list[str] = field(default_factory=list)
    #: domains whose MTA-STS policy this run published
    published: list[str] = field(default_factory=list)
    #: per zone, the intermediate writes the provider reported (`zone_step`), in order
    steps: dict[str, list[ZoneStep]] = field(default_factory=dict)
    end: Completed | Failed | Interrupted | None = None

    @property
    def id(self) -> str:
        return self.began.run

    @property
    def state(self) -> str:
        """completed | failed | interrupted | open (died with no closing event)."""
        return self.end.event if self.end is not None else "open"

    @property
    def legacy(self) -> bool:
        """Written before `began` carried the changes: only the snapshot can restore it."""
        return self.began.kind == "legacy"

    def unknown(self) -> list[str]:
        """Zones whose write may have happened with no `zone_applied` to say so."""
        if self.state == "completed" or self.legacy:
            return []
        pending = [z for z in self.began.zones if z not in self.applied]
        if not pending or pending[0] in self.steps:  # a step journaled: known to be written
            return []
        if isinstance(self.end, Failed) and (
            self.end.nothing_written or self.end.zone != pending[0]
        ):
            return []
        if isinstance(self.end, Interrupted) and self.end.in_flight != pending[0]:
            return []
        return pending[:1]  # zones are written one after another: only the next can be in doubt

    def written(self) -> list[str]:
        """Zones this run wrote or may have written, in the order it applied them."""
        doubt = self.unknown()
        return [z for z in self.began.zones if z in self.applied or z in self.steps or z in doubt]

    def stopped_in(self) -> ZoneStep | None:
        """The last step of a zone the run began writing and never finished (no
        `zone_applied`): where a run that stopped halfway through a zone stopped."""
        if self.state == "completed":
            return None
        open_steps = [s[-1] for z, s in self.steps.items() if z not in self.applied]
        return open_steps[-1] if open_steps else None


@dataclass
class Unit:
    """One stage on the undo stack, with every run of it (a failed run and its re-run)."""

    stage: str
    runs: list[Run] = field(default_factory=list)

    @property
    def last(self) -> Run:
        return self.runs[-1]

    @property
    def complete(self) -> bool:
        return self.last.state == "completed"

    @property
    def open(self) -> bool:
        """The last run stopped before `completed`: status names it, rollback undoes it first."""
        return not self.complete

    @property
    def snapshots(self) -> list[str]:
        return [r.began.snapshot for r in self.runs if r.began.snapshot]

    @property
    def applied_at(self) -> str | None:
        return self.last.end.time if self.complete and self.last.end else None

    @property
    def t_old(self) -> int:
        ends = [r.end.t_old for r in self.runs if isinstance(r.end, Completed)]
        return max([r.began.t_old for r in self.runs] + ends, default=0)

    @property
    def forced(self) -> bool:
        return any(r.began.forced for r in self.runs)

    @property
    def verified(self) -> str | None:
        return self.last.end.verified if isinstance(self.last.end, Completed) else None

    def changed_nothing(self) -> bool:
        return not any(
            r.began.changes or r.began.policies or r.legacy and r.began.snapshot for r in self.runs
        )


def stack(entries: list[dict[str, Any]]) -> list[Unit]:
    """The stages in place, oldest first, after replaying every run and every rollback."""
    units: list[Unit] = []
    runs: dict[str, Run] = {}
    for data in entries:
        event = from_json(data)
        if event is None:
            continue
        if isinstance(event, dict):
            _replay_legacy(units, event)
        elif isinstance(event, Began):
            run = runs[event.run] = Run(began=event)
            if event.kind == "stage" and event.stage in NAMES:
                top = units[-1] if units and units[-1].stage == event.stage else None
                if top is None:
                    top = Unit(stage=event.stage)
                    units.append(top)
                top.runs.append(run)
        elif isinstance(event, ZoneApplied):
            if event.run in runs and event.zone not in runs[event.run].applied:
                runs[event.run].applied.append(event.zone)
        elif isinstance(event, ZoneStep):
            if event.run in runs:
                runs[event.run].steps.setdefault(event.zone, []).append(event)
        elif isinstance(event, PolicyPublished):
            if event.run in runs and event.domain not in runs[event.run].published:
                runs[event.run].published.append(event.domain)
        elif isinstance(event, Completed | Failed | Interrupted):
            if event.run in runs:
                runs[event.run].end = event
        elif isinstance(event, RolledBack) and event.complete:
            _pop_undone(units, set(event.undoes), event.restores)
    return units


def _pop_undone(units: list[Unit], undone: set[str], snapshot: str | None) -> None:
    """Undoing a unit undoes everything applied after it too (an undo stack)."""
    hit = [
        i
        for i, u in enumerate(units)
        if undone & {r.id for r in u.runs} or (snapshot and snapshot in u.snapshots)
    ]
    if hit:
        del units[min(hit) :]


def _replay_legacy(units: list[Unit], e: dict[str, Any]) -> None:
    """Entries of the earlier journal format: `applied`/`failed` per stage, `rolled_back`."""
    if e["event"] == "rolled_back":
        undone = e.get("snapshots") or []
        if (
            not undone
            and units
            and units[-1].stage == e.get("stage")
            and units[-1].changed_nothing()
        ):
            units.pop()
            return
        for sid in undone:
            _pop_undone(units, set(), sid)
        return
    if e.get("stage") not in NAMES:
        return
    time = str(e.get("time") or "")
    began = Began(
        run=f"legacy-{len(units)}-{time}",
        stage=e["stage"],
        time=time,
        who=str(e.get("who") or "?"),
        kind="legacy",
        snapshot=e.get("snapshot"),
        zones=list(e.get("zones") or []),
        forced=bool(e.get("forced")),
    )
    run = Run(began=began, applied=list(e.get("zones") or []))
    if e["event"] == "applied":
        run.end = Completed(run=began.run, time=time, t_old=int(e.get("t_old") or 0))
    else:
        run.end = Failed(run=began.run, time=time, error=str(e.get("error") or ""))
    top = units[-1] if units and units[-1].stage == e["stage"] else None
    if top is None:
        top = Unit(stage=e["stage"])
        units.append(top)
    top.runs.append(run)


# ------------------------------------------------------------------ questions


def current_stage(units: list[Unit]) -> str | None:
    """The last stage fully in place, or None before prepare."""
    for unit in reversed(units):
        if unit.complete:
            return unit.stage
    return None


def next_stage(units: list[Unit]) -> str:
    if units and units[-1].open:
        return units[-1].stage  # a stage that stopped halfway is next until it completes
    cur = current_stage(units)
    if cur is None:
        return NAMES[0]
    return NAMES[min(get_stage(cur).index + 1, len(NAMES) - 1)]


def find(units: list[Unit], stage: str) -> Unit | None:
    for unit in reversed(units):
        if unit.stage == stage:
            return unit
    return None


def gate_opens(units: list[Unit]) -> datetime | None:
    """When the stage that waits out T_old (cutover) may run: the stage it requires (prepare)
    applied and verified, plus T_old. None: that stage is not in place."""
    waits = next(s for s in ORDER if s.waits_t_old)
    prep = find(units, waits.requires or "")
    if prep is None or not prep.complete or not prep.applied_at:
        return None
    # +1 s: journal times are whole seconds, and a gate must never open early
    return parse_time(prep.applied_at) + timedelta(seconds=prep.t_old + 1)


def describe_open(unit: Unit, env_name: str) -> str:
    """'prepare interrupted at T: zones A, B applied, C unknown; run `invoke rollback`'."""
    run = unit.last
    what = {"open": "stopped without a trace (killed)", "failed": "failed"}.get(
        run.state, run.state
    )
    when = run.end.time if run.end is not None else run.began.time
    parts = []
    if run.applied:
        parts.append(f"zones {', '.join(z.rstrip('.') for z in run.applied)} applied")
    step = run.stopped_in()
    if step is not None:
        parts.append(f"stopped after step {step.step} of {step.zone.rstrip('.')}: {step.note}")
    unknown = run.unknown()
    if unknown:
        parts.append(f"{', '.join(z.rstrip('.') for z in unknown)} unknown")
    if not parts:
        parts.append("no zone applied")
    return (
        f"{unit.stage} {what} at {when}: {', '.join(parts)}; run `invoke rollback --env "
        f"{env_name}` to undo it, or `invoke {unit.stage} --env {env_name}` to finish it"
    )


def seconds_left(opens: datetime, now: datetime) -> int:
    """Rounded up, so status never says a gate is open early."""
    return max(0, math.ceil((opens - now).total_seconds()))
