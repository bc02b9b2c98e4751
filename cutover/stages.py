"""The cutover lifecycle: the only place that knows the order of the stages and their gates.

Every stage runs the same pipe: plan -> gate -> lint -> confirm -> snapshot -> apply -> verify
-> journal, under the environment's lock. Rollback is the same pipe with a snapshot as what is
wanted, so it never renders a template and works when the config's profiles are broken.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from . import journal
from .config import Environment
from .errors import ChecksFailed, CutoverError, ProviderError, UsageError
from .plan import Plan, Want, diff
from .providers import get_provider
from .providers.base import Provider
from .records import RRset, fqdn
from .render import STAGES, managed_names, render_domain, wants
from .state import get_state
from .state.base import StateBackend, iso, new_snapshot, utcnow, who


class UI(Protocol):
    """What the stages need from whoever runs them (the console, a test)."""

    def show_plans(self, plans: list[Plan], findings: list[Any]) -> None: ...
    def confirm(self, question: str) -> bool: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def countdown(self, until: datetime, label: str) -> None: ...


@dataclass
class Outcome:
    """What a stage did, for the report and the exit code."""

    stage: str
    plans: list[Plan] = field(default_factory=list)
    snapshot: str | None = None
    applied: list[str] = field(default_factory=list)
    message: str = ""
    findings: list[Any] = field(default_factory=list)
    verified: str | None = None  # "authoritative" or "provider": who vouched it is served

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def build_plans(env: Environment, provider: Provider, stage: str) -> list[Plan]:
    """Render every domain first (bad templates fail before any read), then diff each zone."""
    renders = [render_domain(env, d) for d in env.domains]
    wanted = [(fqdn(r.domain.name), wants(env, r, stage)) for r in renders]
    plans = []
    for zone, ws in wanted:
        current = provider.read(zone, managed_names(ws))
        plans.append(diff(zone, ws, current, stage))
    return plans


@contextmanager
def locked(env: Environment, state: StateBackend, task: str) -> Iterator[None]:
    """Hold the environment's lock for the duration; released on every exit path."""
    state.acquire_lock(
        {
            "owner": who(),
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "started": iso(utcnow()),
            "task": task,
        }
    )
    try:
        yield
    finally:
        state.release_lock()


def check_gate(env: Environment, units: list[journal.Unit], stage: str) -> datetime | None:
    """Raise ChecksFailed when `stage` may not run yet; return when a time gate opens (if any)."""
    cur = journal.current_stage(units)
    done = {u.stage for u in units if u.complete}
    if stage == "cutover":
        if "prepare" not in done:
            raise ChecksFailed(
                "cutover refused: prepare has not been applied yet",
                f"run `invoke prepare --env {env.name}` first",
            )
        return journal.gate_opens(units)
    if stage == "finalize" and "cutover" not in done:
        raise ChecksFailed(
            f"finalize refused: the current stage is {cur or 'none'}, cutover is not in place",
            f"run `invoke cutover --env {env.name}` first",
        )
    return None


def _countdown_text(opens: datetime) -> str:
    left = int((opens - utcnow()).total_seconds())
    h, rem = divmod(max(left, 0), 3600)
    m, s = divmod(rem, 60)
    span = f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
    return f"gate opens at {iso(opens)}, in {span}"


def run_stage(
    env: Environment,
    stage: str,
    ui: UI,
    *,
    yes: bool = False,
    force: bool = False,
    wait: bool = False,
    strict: bool = False,
) -> Outcome:
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    state = get_state(env)
    provider = get_provider(env)
    try:
        with locked(env, state, stage):
            return _run_stage(
                env, stage, ui, state, provider, yes=yes, force=force, wait=wait, strict=strict
            )
    finally:
        provider.close()


def _run_stage(
    env: Environment,
    stage: str,
    ui: UI,
    state: StateBackend,
    provider: Provider,
    *,
    yes: bool,
    force: bool,
    wait: bool,
    strict: bool = False,
) -> Outcome:
    units = journal.stack(state.read_journal())
    forced_reason = ""
    try:
        opens = check_gate(env, units, stage)
    except ChecksFailed as exc:
        if not force:
            raise
        forced_reason = exc.message
        opens = None
    if opens is not None and utcnow() < opens:
        if wait:
            ui.countdown(opens, f"{stage}: waiting for resolvers to drop the old TTLs")
        elif force:
            forced_reason = f"{stage} before the TTL gate ({_countdown_text(opens)})"
        else:
            raise ChecksFailed(
                f"{stage} refused: {_countdown_text(opens)}",
                "--wait to wait, --force to override",
            )
    if forced_reason:
        ui.warn(f"--force: {forced_reason}; this is written to the journal")

    plans = build_plans(env, provider, stage)
    outcome = Outcome(stage=stage, plans=plans)
    findings = lint(env, stage, plans, provider)
    outcome.findings = findings
    todo = [p for p in plans if p]
    if not todo:
        ui.show_plans(plans, findings)
        outcome.message = f"{stage}: nothing to change, every zone is already in place"
        if journal.find(units, stage) is None or not journal.find(units, stage).complete:
            _journal_applied(env, state, stage, None, [], plans, forced_reason, t_old=0)
        return outcome
    ui.show_plans(plans, findings)
    from .verify.policy import blocking as blocking_findings

    blocking = blocking_findings(findings, strict)
    if blocking:
        raise ChecksFailed(
            f"{stage} refused: {len(blocking)} lint finding(s) block it"
            f"{' (--strict)' if strict else ''}, first: {blocking[0].line()}",
            "fix the profile inputs or the environment and run again; nothing was applied",
        )
    if not yes and not ui.confirm(f"Apply {stage} to {len(todo)} zone(s)?"):
        raise UsageError(f"{stage} not confirmed; nothing was applied")
    outcome.snapshot = take_snapshot(env, state, stage, todo, provider)
    apply_plans(env, state, provider, stage, todo, outcome, ui)
    t_old = max(
        (provider.served_ttl(c.before.ttl) for p in todo for c in p.changes if c.before), default=0
    )
    _journal_applied(
        env,
        state,
        stage,
        outcome.snapshot,
        outcome.applied,
        plans,
        forced_reason,
        t_old,
        outcome.verified,
    )
    outcome.message = (
        f"{stage}: applied to {len(outcome.applied)} zone(s), snapshot {outcome.snapshot}"
    )
    return outcome


def lint(env: Environment, stage: str, plans: list[Plan], provider: Provider) -> list[Any]:
    """The policy checks on what the stage would leave in each zone."""
    from .verify.policy import lint_plans

    return lint_plans(env, stage, plans, provider)


def take_snapshot(
    env: Environment,
    state: StateBackend,
    stage: str,
    plans: list[Plan],
    provider: Provider | None = None,
) -> str:
    zones = {}
    archives = {}
    for p in plans:
        rrsets = [c.before for c in p.changes if c.before is not None]
        absent = [c.key for c in p.changes if c.before is None]
        zones[p.zone] = (rrsets, absent)
        whole = provider.archive(p.zone) if provider is not None else None
        if whole is not None:
            archives[p.zone] = whole
    return state.save_snapshot(new_snapshot(env.name, stage, zones, archives))


def apply_plans(
    env: Environment,
    state: StateBackend,
    provider: Provider,
    stage: str,
    plans: list[Plan],
    outcome: Outcome,
    ui: UI,
) -> None:
    """Apply zone by zone, then wait for the provider to report every change served.

    All zones are sent before any wait, so Route53's minute-long INSYNC waits overlap instead of
    adding up. On failure, journal what was applied so a re-run or rollback can finish.
    """
    from .verify.propagation import wait_served

    def guarded(zone: str | None, call):
        try:
            return call()
        except (CutoverError, KeyboardInterrupt) as exc:
            _journal_failed(env, state, stage, outcome, zone, exc)
            raise
        except Exception as exc:  # a provider SDK error we did not map: still journal it
            _journal_failed(env, state, stage, outcome, zone, exc)
            raise ProviderError(f"{zone or stage}: {type(exc).__name__}: {exc}") from exc

    refs = []
    for plan in plans:
        refs.append(guarded(plan.zone, lambda plan=plan: provider.apply(plan.zone, plan)))
        outcome.applied.append(plan.zone)
        ui.info(f"{plan.zone}: applied {len(plan.changes)} change(s)")
    for plan, ref in zip(plans, refs, strict=True):
        guarded(plan.zone, lambda ref=ref: provider.wait(ref))
    # applied but not seen served: journaled too, so status, a re-run and rollback know
    outcome.verified = guarded(None, lambda: wait_served(env, provider, plans, stage, ui))


def _journal_failed(env, state, stage, outcome, zone, exc) -> None:
    state.append_journal(
        {
            "event": "failed",
            "stage": stage,
            "time": iso(utcnow()),
            "who": who(),
            "snapshot": outcome.snapshot,
            "zones": list(outcome.applied),
            "failed_zone": zone,
            "error": exc.line()
            if isinstance(exc, CutoverError)
            else f"{type(exc).__name__}: {exc}",
        }
    )


def _journal_applied(
    env, state, stage, snapshot, zones, plans, forced_reason, t_old, verified=None
) -> None:
    old_ttls = {
        p.zone: {
            f"{c.key[0]} {c.key[1]}": c.before.ttl
            for c in p.changes
            if c.before and c.after and c.after.ttl < c.before.ttl
        }
        for p in plans
        if p
    }
    state.append_journal(
        {
            "event": "applied",
            "stage": stage,
            "time": iso(utcnow()),
            "who": who(),
            "snapshot": snapshot,
            "zones": zones,
            "t_old": t_old,
            "old_ttls": old_ttls,
            "plan_sha256": {p.zone: p.sha256() for p in plans},
            "forced": bool(forced_reason),
            "forced_reason": forced_reason or None,
            "verified": verified,
        }
    )


# ---------------------------------------------------------------- rollback


def rollback_target(state: StateBackend, snapshot_id: str | None) -> list[dict[str, Any]]:
    """The snapshots to restore, newest first: the given one, or the top unit of the stack."""
    if snapshot_id:
        return [state.load_snapshot(snapshot_id)]
    units = journal.stack(state.read_journal())
    if not units:
        raise ChecksFailed("nothing to roll back: no stage is in place", "see `invoke status`")
    top = units[-1]
    if not top.snapshots:  # the stage changed nothing: undoing it only updates the journal
        return [{"id": None, "stage": top.stage, "env": state.env.name, "zones": {}}]
    return [state.load_snapshot(s) for s in reversed(top.snapshots)]


def restore_wants(docs: list[dict[str, Any]]) -> dict[str, list[Want]]:
    """What the zones must hold again: for each key, the oldest snapshot's state wins."""
    by_zone: dict[str, dict[tuple[str, str], Want]] = {}
    for doc in docs:  # newest first, so older snapshots overwrite
        for zone, body in doc["zones"].items():
            slot = by_zone.setdefault(zone, {})
            for data in body["rrsets"]:
                r = RRset.from_dict(data)
                slot[r.key] = Want(r.name, r.type, r.ttl, r.values)
            for name, rtype in body["absent"]:
                slot[(name, rtype)] = Want(name, rtype, 0, ())
    return {z: list(ws.values()) for z, ws in by_zone.items()}


def run_rollback(
    env: Environment, ui: UI, *, snapshot_id: str | None = None, yes: bool = False
) -> Outcome:
    state = get_state(env)
    provider = get_provider(env)
    try:
        with locked(env, state, "rollback"):
            docs = rollback_target(state, snapshot_id)
            for doc in docs:
                if doc.get("env") != env.name:
                    raise UsageError(
                        f"snapshot {doc['id']} belongs to environment {doc.get('env')}"
                    )
            plans = []
            for zone, ws in sorted(restore_wants(docs).items()):
                current = provider.read(zone, managed_names(ws))
                plans.append(diff(zone, ws, current, "rollback"))
            outcome = Outcome(stage="rollback", plans=plans)
            ui.show_plans(plans, [])
            todo = [p for p in plans if p]
            if todo:
                if not yes and not ui.confirm(f"Roll back {len(todo)} zone(s)?"):
                    raise UsageError("rollback not confirmed; nothing was applied")
                outcome.snapshot = take_snapshot(env, state, "rollback", todo, provider)
                apply_plans(env, state, provider, "rollback", todo, outcome, ui)
            state.append_journal(
                {
                    "event": "rolled_back",
                    "time": iso(utcnow()),
                    "who": who(),
                    "snapshots": [d["id"] for d in docs if d["id"]],
                    "stage": docs[0].get("stage"),
                    "zones": outcome.applied,
                    "snapshot": outcome.snapshot,
                    "verified": outcome.verified,
                }
            )
            restored = ", ".join(d["id"] for d in docs if d["id"])
            outcome.message = (
                f"rollback: restored {restored} ({len(outcome.applied)} zone(s) changed)"
                if restored
                else f"rollback: {docs[0]['stage']} had changed nothing; marked undone"
            )
            return outcome
    finally:
        provider.close()


# ---------------------------------------------------------------- read-only views


def default_stage(env: Environment) -> str:
    """The stage the journal says is next (or still incomplete)."""
    return journal.next_stage(journal.stack(get_state(env).read_journal()))


def preview(env: Environment, stage: str | None) -> tuple[str, list[Plan], list[Any]]:
    """The plan and lint findings of a stage, without touching anything."""
    stage = stage or default_stage(env)
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    provider = get_provider(env)
    try:
        plans = build_plans(env, provider, stage)
        return stage, plans, lint(env, stage, plans, provider)
    finally:
        provider.close()
