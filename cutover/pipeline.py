"""One pipeline runs every stage and every rollback:

    lock -> gate -> plan -> lint -> confirm -> snapshot -> began -> apply zone by zone -> verify
         -> completed

A `Target` says what differs (a stage's render or a rollback's restore, its gate, whether lint
gates it, how it closes); the order, the journal discipline and the failure handling live only
here. The journal is write-ahead: `began` (every planned before/after) is durable before the
first provider write, each intermediate write a provider reports is a `zone_step`, and each
zone's `zone_applied` follows its write, so a run that dies anywhere leaves a unit that `status`
names and `rollback` undoes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import journal, signals
from .errors import ChecksFailed, CutoverError, ProviderError, UsageError
from .journal import (
    Began,
    Completed,
    Failed,
    Interrupted,
    PolicyPublished,
    RolledBack,
    ZoneApplied,
    ZoneStep,
)
from .plan import Plan
from .providers import get_provider
from .providers.base import Provider, StepCallback, accepts_steps
from .records import RRset
from .signals import critical, pause
from .state import get_state
from .state.base import StateBackend, StateWriteError, iso, new_snapshot, utcnow, who


class UI(Protocol):
    """What the pipeline needs from whoever runs it (the console, a test)."""

    def show_plans(self, plans: list[Plan], findings: list[Any]) -> None: ...
    def confirm(self, question: str) -> bool: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def countdown(self, until: Any, label: str) -> None: ...


@dataclass
class Outcome:
    """What a run did, for the report and the exit code."""

    stage: str
    plans: list[Plan] = field(default_factory=list)
    snapshot: str | None = None
    applied: list[str] = field(default_factory=list)
    message: str = ""
    findings: list[Any] = field(default_factory=list)
    verified: str | None = None  # "authoritative" or "provider": who vouched it is served
    conflicts: list[Any] = field(default_factory=list)
    run: str | None = None
    #: the cutover's SMTP probe of the new MX, as journaled in `began.probe`
    probe: dict[str, Any] | None = None
    #: domains whose MTA-STS policy file the run published
    published: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.published)  # a policy file put back is a change too


@dataclass
class Target:
    """What one run wants: a stage's render or a rollback's restore.

    `gate(units, ui)` raises when the run may not start and returns a --force reason (or "");
    `plan(provider, units)` returns one Plan per zone; `lint` is None for a rollback (its
    findings never block it); `close(run_id, outcome, t_old)` is the event that ends the run.
    """

    label: str
    kind: str
    gate: Callable[[list[journal.Unit], UI], str]
    plan: Callable[[Provider, list[journal.Unit]], list[Plan]]
    close: Callable[[str, Outcome, int], Any]
    lint: Callable[[list[Plan], Provider], list[Any]] | None = None
    strict: bool = False
    question: str = ""
    undoes: list[str] = field(default_factory=list)
    restores: str | None = None
    #: RRsets a rollback leaves alone because someone changed them since (filled by `plan`)
    conflicts: list[Any] = field(default_factory=list)
    #: MTA-STS policy files to publish before the zone writes (mtasts.lifecycle.PolicyChange)
    policies: list[Any] = field(default_factory=list)
    #: what the message says when there was nothing to change, and whether to journal it
    unchanged: str = ""
    record_unchanged: Callable[[list[journal.Unit]], bool] = lambda units: False
    #: what the SMTP probe of the new MX found (cutover/probe/gate.py), kept in `began`
    probe: dict[str, Any] | None = None


def execute(env, target: Target, ui: UI, *, yes: bool = False) -> Outcome:
    """Run `target` under the environment's lock with the signal handlers installed."""
    state = get_state(env)
    provider = get_provider(env)
    with signals.handled():
        try:
            with locked(state, target.label):
                return _execute(env, target, ui, state, provider, yes)
        finally:
            provider.close()


@contextmanager
def locked(state: StateBackend, task: str) -> Iterator[None]:
    """Hold the environment's lock for the duration; released on every exit path."""
    info = {
        "owner": who(),
        "pid": os.getpid(),
        "host": os.uname().nodename,
        "started": iso(utcnow()),
        "task": task,
    }
    acquired = False
    try:
        with critical():  # a signal here is raised when the block ends: after `acquired`
            try:
                state.acquire_lock(info)
            except StateWriteError as exc:
                exc.message += "; nothing was applied"
                raise
            acquired = True
        yield
    finally:
        if acquired:
            with critical():
                state.release_lock()


def _execute(env, target: Target, ui: UI, state: StateBackend, provider: Provider, yes: bool):
    _remove_stale_temps(ui, state.remove_stale_temps())
    units = journal.stack(state.read_journal())
    for problem in state.journal_problems:
        ui.warn(problem)
    forced = target.gate(units, ui)
    plans = target.plan(provider, units)
    _remove_stale_temps(ui, provider.remove_stale_temps([p.zone for p in plans]))
    for p in plans:
        if p:
            provider.check_plan(p.zone, p)  # refused before snapshot and `began`: no journal
    findings = target.lint(plans, provider) if target.lint else []
    outcome = Outcome(stage=target.label, plans=plans, findings=findings, probe=target.probe)
    todo = [p for p in plans if p]
    ui.show_plans(plans, findings)
    for change in target.policies:
        ui.info(change.summary())
    if target.lint is not None and todo:
        from .verify.policy import blocking

        stops = blocking(findings, target.strict)
        if stops:
            raise ChecksFailed(
                f"{target.label} refused: {len(stops)} lint finding(s) block it"
                f"{' (--strict)' if target.strict else ''}, first: {stops[0].line()}",
                "fix the profile inputs or the environment and run again; nothing was applied",
            )
    changing = bool(todo or target.policies)
    question = target.question.format(n=len(todo))
    if target.policies:  # a run may change only policy files: say so rather than "0 zone(s)"
        question = f"{question[:-1]} and {len(target.policies)} MTA-STS policy file(s)?"
    if changing and not yes and not ui.confirm(question):
        raise UsageError(f"{target.label} not confirmed; nothing was applied")
    outcome.conflicts = list(target.conflicts)
    if not changing:
        outcome.message = target.unchanged
        if target.record_unchanged(units):
            began = _began(target, forced, outcome, [], 0)
            record(state, began)
            record(state, target.close(began.run, outcome, 0))
        return outcome
    try:
        _keep_settings(env, state)
        outcome.snapshot = take_snapshot(env, state, target.label, todo, provider, target.policies)
    except CutoverError as exc:
        exc.message += "; nothing was applied"
        raise
    began = _began(target, forced, outcome, todo, t_old(provider, todo))
    outcome.run = began.run
    try:
        record(state, began)
        pause("after-snapshot")
        _publish_policies(env, state, target, outcome, ui)
        _apply(env, state, provider, target, todo, outcome, ui)
        record(state, target.close(began.run, outcome, began.t_old))
    except signals.Interrupted as exc:
        _close_failed(state, Interrupted(began.run, iso(utcnow()), exc.name), exc)
        exc.message = _stopped(env, target, outcome, f"interrupted by {exc.name}", None)
        raise
    except CutoverError as exc:
        zone = getattr(exc, "zone", None)
        event = Failed(began.run, iso(utcnow()), exc.line(), zone, exc.nothing_written)
        _close_failed(state, event, exc)
        exc.message = _stopped(env, target, outcome, exc.message, exc)
        exc.hint = None
        raise
    return outcome


def _remove_stale_temps(ui: UI, removed: list[str]) -> None:
    """Say which temporary files of a killed run were removed (nothing when there were none)."""
    for path in removed:
        ui.info(f"removed {path}: a temporary file left by a run that was killed mid-write")


def _began(target: Target, forced: str, outcome: Outcome, todo: list[Plan], t: int) -> Began:
    now = utcnow()
    return Began(
        run=journal.new_run_id(target.label, now),
        stage=target.label,
        time=iso(now),
        who=who(),
        kind=target.kind,
        snapshot=outcome.snapshot,
        zones=[p.zone for p in todo],
        changes={p.zone: [c.to_dict() for c in p.changes] for p in todo},
        plan_sha256={p.zone: p.sha256() for p in todo},
        forced=bool(forced),
        forced_reason=forced or None,
        undoes=target.undoes,
        restores=target.restores,
        t_old=t,
        probe=target.probe,
        policies={c.domain: c.to_dict() for c in target.policies},
    )


def _publish_policies(env, state: StateBackend, target: Target, outcome: Outcome, ui) -> None:
    """Each MTA-STS policy written and read back, and journaled, before any zone write: the
    zone write carries the `_mta-sts` id that makes senders fetch it."""
    if not target.policies:
        return
    from .mtasts.lifecycle import confirm_served, publish, sha256

    for i, change in enumerate(target.policies, 1):
        with critical():
            publish(env, change)
            outcome.published.append(change.domain)
            event = PolicyPublished(
                outcome.run, change.domain, iso(utcnow()), sha256(change.after), change.location
            )
            record(state, event)
        ui.info(f"{change.domain}: MTA-STS policy published at {change.location}")
        pause(f"policy-published-{i}")
    confirm_served(env, target.policies, ui.warn, strict=target.kind == "stage")


def _apply(env, state, provider: Provider, target: Target, todo: list[Plan], outcome, ui) -> None:
    """Zone by zone (each write and its journal line one critical section), then wait until
    every zone is served. All zones are sent before any wait, so Route53's INSYNC waits
    overlap instead of adding up."""
    from .verify.propagation import wait_served

    refs = []
    stepwise = accepts_steps(provider)
    for i, plan in enumerate(todo, 1):
        with critical():
            try:
                steps = {"on_step": _steps(state, outcome, plan)} if stepwise else {}
                ref = provider.apply(plan.zone, plan, **steps)
            except CutoverError as exc:
                exc.zone = plan.zone  # type: ignore[attr-defined]
                raise
            except Exception as exc:  # an SDK error nobody mapped: still journaled, exit 3
                err = ProviderError(f"{plan.zone}: {type(exc).__name__}: {exc}")
                err.zone = plan.zone  # type: ignore[attr-defined]
                raise err from exc
            pause(f"zone-written-{i}")
            outcome.applied.append(plan.zone)  # written, whatever the journal can say
            try:
                record(state, ZoneApplied(outcome.run, plan.zone, iso(utcnow()), ref.id))
            except CutoverError as exc:
                exc.message = f"{plan.zone} was applied but not journaled: {exc.message}"
                raise
        refs.append(ref)
        ui.info(f"{plan.zone}: applied {len(plan.changes)} change(s)")
        pause(f"after-zone-{i}")
    pause("after-last-zone")
    try:
        for ref in refs:
            provider.wait(ref)
        outcome.verified = wait_served(env, provider, todo, target.label, ui) if todo else None
    except CutoverError:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped to exit 3 and journaled like the rest
        raise ProviderError(f"{target.label}: {type(exc).__name__}: {exc}") from exc


def _steps(state: StateBackend, outcome: Outcome, plan: Plan) -> StepCallback:
    """The `on_step` a provider calls after each intermediate write of `plan.zone`: journals a
    `zone_step` (numbered from 1) before the provider goes on to its next write."""
    count = 0

    def step(note: str, rrsets: Mapping[tuple[str, str], RRset | None]) -> None:
        nonlocal count
        count += 1
        written = [
            {"name": k[0], "type": k[1], "after": r.to_dict() if r is not None else None}
            for k, r in sorted(rrsets.items())
        ]
        try:
            record(state, ZoneStep(outcome.run, plan.zone, iso(utcnow()), count, note, written))
        except CutoverError as exc:
            exc.message = (
                f"{plan.zone} was partly written ({note}) but not journaled: {exc.message}"
            )
            exc.nothing_written = False
            raise

    return step


def record(state: StateBackend, event: Any) -> None:
    """Append one event durably; a signal waits until the line is down."""
    with critical():
        state.append_journal(journal.to_json(event))


def _close_failed(state: StateBackend, event: Any, exc: BaseException) -> None:
    """Journal how the run ended; if even that cannot be written, say so in the message. A
    second signal while writing it is ignored: the run is already stopping, with its message."""
    try:
        record(state, event)
    except signals.Interrupted:
        pass
    except CutoverError as write_error:
        if isinstance(exc, CutoverError):
            exc.message += f" (and the journal could not record it: {write_error.message})"


def _stopped(env, target: Target, outcome: Outcome, why: str, exc) -> str:
    """One line: what stopped the run, what DNS holds now, what to do next."""
    zone = getattr(exc, "zone", None)
    again = f"invoke {target.label} --env {env.name}"
    if outcome.published and not outcome.applied:
        return (
            f"{target.label} stopped: {why}; DNS unchanged, the MTA-STS policy of "
            f"{', '.join(outcome.published)} was published; run `invoke rollback --env "
            f"{env.name}` or `{again}`"
        )
    if not outcome.applied:
        if exc is not None and zone is not None and not exc.nothing_written:
            return (
                f"{target.label} stopped at {zone}: {why}; {zone} may be partly applied "
                f"(snapshot {outcome.snapshot}); run `invoke rollback --env {env.name}` or "
                f"`{again}`"
            )
        return f"{target.label} stopped: {why}; nothing was applied"
    why = why.replace("nothing was applied", "that zone was not changed")
    done = ", ".join(z.rstrip(".") for z in outcome.applied)
    where = f" at {zone}" if zone else ""
    undo = (
        f"`invoke rollback --env {env.name}` again to finish the rollback"
        if target.kind == "rollback"
        else f"`invoke rollback --env {env.name}` to undo them or `{again}` to finish"
    )
    return (
        f"{target.label} stopped{where}: {why}; DNS was changed in {done} (snapshot "
        f"{outcome.snapshot}); run {undo}"
    )


def t_old(provider: Provider, plans: list[Plan]) -> int:
    """The longest any resolver may hold a record this run changes: the old TTL or the new
    one, whichever is larger, as the provider serves it (Cloudflare's automatic TTL is 300)."""
    return max(
        (
            provider.served_ttl(max(c.before.ttl, c.after.ttl if c.after else 0))
            for p in plans
            for c in p.changes
            if c.before is not None
        ),
        default=0,
    )


def take_snapshot(
    env, state: StateBackend, label: str, plans: list[Plan], provider, policies=()
) -> str:
    """Every RRset the run touches as it is now (and the whole zone where the host keeps it),
    and every MTA-STS policy file it replaces."""
    zones = {}
    archives = {}
    sources = {}
    for p in plans:
        rrsets = [c.before for c in p.changes if c.before is not None]
        absent = [c.key for c in p.changes if c.before is None]
        zones[p.zone] = (rrsets, absent)
        whole = provider.archive(p.zone)
        if whole is not None:
            archives[p.zone] = whole
        deleted = [c.before for c in p.changes if c.before is not None and c.after is None]
        text = provider.source_text(p.zone, deleted) if deleted else []
        if text:
            sources[p.zone] = text
    with critical():
        kept = {c.domain: c.before for c in policies}
        doc = new_snapshot(env.name, label, zones, archives, kept, sources)
        return state.save_snapshot(doc)


def _keep_settings(env, state: StateBackend) -> None:
    """A copy of where this environment writes, so a rollback works when the file is broken."""
    from .write_settings import settings_copy

    with critical():
        state.save_settings(settings_copy(env))


def closing_completed(run: str, outcome: Outcome, t_old: int) -> Completed:
    return Completed(run, iso(utcnow()), t_old, outcome.verified)


def closing_rolled_back(target: Target) -> Callable[[str, Outcome, int], RolledBack]:
    def close(run: str, outcome: Outcome, t_old: int) -> RolledBack:
        return RolledBack(
            run,
            iso(utcnow()),
            undoes=target.undoes,
            restores=target.restores,
            complete=not outcome.conflicts,
            conflicts=[c.line() for c in outcome.conflicts],
            verified=outcome.verified,
        )

    return close
