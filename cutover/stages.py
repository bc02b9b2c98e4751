"""The cutover lifecycle: which stage may run when, and what a stage or a rollback wants.

The order of the stages is written once, in stage.py; the gates are here; the pipeline that
runs them all (lock, plan, lint, snapshot, write-ahead journal, apply, verify) is pipeline.py.
Rollback is the same pipeline with a restore as what is wanted: it never renders a template,
so it works when the config's profiles are broken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import journal, planfile, undo
from .config import Environment
from .errors import ChecksFailed, CutoverError, UsageError
from .pipeline import (
    UI,
    Outcome,
    Target,
    closing_completed,
    closing_rolled_back,
    execute,
)
from .plan import Plan, Want, diff
from .probe.gate import wanted as probe_wanted
from .probe.gate import with_probe
from .providers import get_provider
from .providers.base import Provider
from .records import RRset, fqdn
from .render import managed_names, render_domain, wants
from .stage import Stage, get_stage
from .state import get_state
from .state.base import iso, utcnow


def build_plans(
    env: Environment, provider: Provider, stage: str | Stage, policies: list | None = None
) -> list[Plan]:
    """Render every domain first (bad templates fail before any read), then diff each zone.
    With `mta_sts`, the `_mta-sts` TXT id follows the stage's policy, and the policy files to
    publish are appended to `policies`."""
    stage = get_stage(stage)
    renders = [render_domain(env, d) for d in env.domains]
    sts = _policies(env, stage, renders)
    wanted = [
        (fqdn(r.domain.name), wants(env, r, stage) + sts.wants.get(r.domain.name, []))
        for r in renders
    ]
    plans = []
    for zone, ws in wanted:
        current = provider.read(zone, managed_names(ws))
        sts.check_announced(zone, current)
        plans.append(diff(zone, ws, current, stage.name))
        sts.confirm_announced(plans[-1])  # an id change waits for the served file, every run
    if policies is not None:
        policies += sts.changes
    return plans


def _policies(env: Environment, stage: Stage, renders: list):
    from .mtasts.lifecycle import StagePolicies, plan_stage

    return plan_stage(env, stage, renders) if env.mta_sts else StagePolicies()


# ---------------------------------------------------------------- gates


def check_gate(env: Environment, units: list[journal.Unit], stage: Stage) -> datetime | None:
    """Raise ChecksFailed when `stage` may not run yet; return when a time gate opens (if any)."""
    top = units[-1] if units else None
    if top is not None and top.open and top.stage != stage.name:
        raise ChecksFailed(
            f"{stage} refused: {journal.describe_open(top, env.name)}",
        )
    current = journal.current_stage(units)
    if current is not None and get_stage(current).index > stage.index:
        if get_stage(current).drops_old:
            raise ChecksFailed(
                f"{stage} refused: this migration is finalized",
                "a next migration gets its own environment file",
            )
        raise ChecksFailed(
            f"{stage} refused: {current} is in place",
            f"roll it back first with `invoke rollback --env {env.name}`",
        )
    if stage.requires is not None:
        need = journal.find(units, stage.requires)
        if need is None or not need.complete:
            raise ChecksFailed(
                f"{stage} refused: {stage.requires} has not been applied yet (the current "
                f"stage is {current or 'none'})",
                f"run `invoke {stage.requires} --env {env.name}` first",
            )
    return journal.gate_opens(units) if stage.waits_t_old else None


def _countdown_text(opens: datetime) -> str:
    left = journal.seconds_left(opens, utcnow())
    h, rem = divmod(left, 3600)
    m, s = divmod(rem, 60)
    span = f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
    return f"gate opens at {iso(opens)}, in {span}"


def _stage_gate(env: Environment, stage: Stage, *, force: bool, wait: bool):
    def gate(units: list[journal.Unit], ui: UI) -> str:
        reasons: list[str] = []  # every check --force overrides is journaled, not the first
        opens = None
        try:
            opens = check_gate(env, units, stage)
        except ChecksFailed as exc:
            if not force:
                raise
            reasons.append(exc.message)
        if stage.switches_mx and env.mta_sts is not None:
            from .mtasts.lifecycle import check_served

            try:
                check_served(env, stage)  # senders must be able to fetch the new MX first
            except ChecksFailed as exc:
                if not force:
                    raise
                reasons.append(exc.message)
        forced = "; ".join(reasons)
        if opens is not None and utcnow() < opens:
            if wait:
                ui.countdown(opens, f"{stage}: waiting for resolvers to drop the old TTLs")
            elif force:
                early = f"{stage} before the TTL gate ({_countdown_text(opens)})"
                forced = f"{forced}; {early}" if forced else early
            else:
                raise ChecksFailed(
                    f"{stage} refused: {_countdown_text(opens)}",
                    "--wait to wait, --force to override",
                )
        if forced:
            ui.warn(f"--force: {forced}; this is written to the journal")
        return forced

    return gate


# ---------------------------------------------------------------- stages


def lint(env: Environment, stage: str, plans: list[Plan], provider: Provider) -> list[Any]:
    """The policy checks on what the stage would leave in each zone."""
    from .verify.policy import lint_plans
    from .verify.ttl import ttl_findings

    return lint_plans(env, stage, plans, provider) + ttl_findings(env, get_stage(stage), plans)


def run_stage(
    env: Environment,
    stage: str,
    ui: UI,
    *,
    yes: bool = False,
    force: bool = False,
    wait: bool = False,
    strict: bool = False,
    saved: tuple[str, dict[str, Any]] | None = None,
) -> Outcome:
    """Run one stage; `saved` (path, document) applies exactly a saved plan or refuses."""
    st = get_stage(stage)

    def plan(provider: Provider, units: list[journal.Unit]) -> list[Plan]:
        target.policies = []
        plans = build_plans(env, provider, st, target.policies)
        if saved is not None:
            planfile.check_same(saved[1], env, plans, saved[0])
        return plans

    def not_yet_in_place(units: list[journal.Unit]) -> bool:
        unit = journal.find(units, st.name)
        return unit is None or not unit.complete

    target = Target(
        label=st.name,
        kind="stage",
        gate=_stage_gate(env, st, force=force, wait=wait),
        plan=plan,
        lint=lambda plans, provider: lint(env, st, plans, provider),
        close=closing_completed,
        strict=strict,
        question=f"Apply {st} to {{n}} zone(s)?",
        unchanged=f"{st}: nothing to change, every zone is already in place",
        record_unchanged=not_yet_in_place,
    )
    if probe_wanted(env, st):  # the SMTP probe of the new MX (probe.require makes it a gate)
        target.gate = with_probe(env, st, target, target.gate, force=force)
    outcome = execute(env, target, ui, yes=yes)
    if outcome.applied or outcome.published:
        outcome.message = (
            f"{st}: applied to {len(outcome.applied)} zone(s), snapshot {outcome.snapshot}"
        )
        if outcome.published:
            outcome.message += f", MTA-STS policy published for {', '.join(outcome.published)}"
    return outcome


# ---------------------------------------------------------------- rollback


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


def _exact_plans(provider: Provider, docs: list[dict[str, Any]]) -> list[Plan]:
    plans = []
    for zone, ws in sorted(restore_wants(docs).items()):
        current = provider.read(zone, managed_names(ws))
        plans.append(diff(zone, ws, current, "rollback"))
    return plans


def _attach_sources(state, snapshot_ids: list[str], plans: list[Plan]) -> None:
    """Give each rollback plan the text its RRsets had before the unit deleted them (the
    oldest run's wins), so the host can write them back as they were. A snapshot that cannot
    be read only costs the layout: the rollback goes on from the journal."""
    found: dict[str, dict[tuple[str, str], dict]] = {}
    for sid in reversed(snapshot_ids):
        try:
            doc = state.load_snapshot(sid)
        except CutoverError:
            continue
        for zone, body in doc["zones"].items():
            for item in body.get("source") or []:
                if isinstance(item, dict) and isinstance(item.get("key"), list):
                    found.setdefault(zone, {})[tuple(item["key"])] = item
    for p in plans:
        p.sources = found.get(p.zone, {})


def _rollback_target(env: Environment, state, snapshot_id: str | None, force: bool) -> Target:
    target = Target(
        label="rollback",
        kind="rollback",
        gate=lambda units, ui: "--force: overwriting later edits" if force else "",
        plan=lambda provider, units: [],
        close=lambda run, outcome, t: None,
        question="Roll back {n} zone(s)?",
        record_unchanged=lambda units: True,
    )
    target.close = closing_rolled_back(target)

    if snapshot_id:  # "make it exactly this": the snapshot's RRsets, plan shown and confirmed
        doc = state.load_snapshot(snapshot_id)
        if doc.get("env") != env.name:
            raise UsageError(f"snapshot {doc['id']} belongs to environment {doc.get('env')}")
        target.restores = doc["id"]
        target.unchanged = f"rollback: every zone already holds snapshot {doc['id']}"

        def exact(provider: Provider, units: list[journal.Unit]) -> list[Plan]:
            if env.mta_sts is not None or doc.get("mta_sts"):
                from .mtasts.lifecycle import snapshot_restore

                target.policies = snapshot_restore(env, doc)
            plans = _exact_plans(provider, [doc])
            _attach_sources(state, [doc["id"]], plans)
            return plans

        target.plan = exact
        return target

    def plan(provider: Provider, units: list[journal.Unit]) -> list[Plan]:
        if not units:
            target.unchanged = "rollback: nothing to roll back, no stage is in place"
            return []
        top = units[-1]
        target.undoes = [r.id for r in top.runs]
        target.unchanged = (
            f"rollback: {top.stage} had changed nothing; marked undone"
            if top.changed_nothing()
            else f"rollback: {top.stage} undone; the live records were already as before it"
        )
        if any(r.legacy for r in top.runs):  # an old journal: only its snapshots can restore
            return _exact_plans(provider, [state.load_snapshot(s) for s in reversed(top.snapshots)])
        plans = []
        doubtful = undo.unknown_zones(top.runs)
        for zone, wrote in sorted(undo.written_by(top.runs).items()):
            live = provider.read(zone, sorted({k[0] for k in wrote}))
            zone_plan, conflicts = undo.plan_restore(zone, wrote, live, force, zone in doubtful)
            plans.append(zone_plan)
            target.conflicts += conflicts
        _attach_sources(state, top.snapshots, plans)
        if any(r.began.policies for r in top.runs):
            from .mtasts.lifecycle import restore_plan

            target.policies, conflicts = restore_plan(env, top.runs, force)
            target.conflicts += conflicts
        return plans

    target.plan = plan
    target.record_unchanged = bool  # an empty stack has nothing to mark undone
    return target


def run_rollback(
    env: Environment,
    ui: UI,
    *,
    snapshot_id: str | None = None,
    yes: bool = False,
    force: bool = False,
) -> Outcome:
    state = get_state(env)
    target = _rollback_target(env, state, snapshot_id, force)
    outcome = execute(env, target, ui, yes=yes)
    if outcome.applied or outcome.published:
        what = f"snapshot {target.restores}" if target.restores else "the latest stage"
        outcome.message = (
            f"rollback: restored {what} ({len(outcome.applied)} zone(s) changed, "
            f"snapshot of the state before the rollback {outcome.snapshot})"
        )
    if outcome.conflicts:
        for c in outcome.conflicts:
            ui.warn(f"left alone: {c.zone.rstrip('.')}: {c.line()}")
        outcome.message += (
            f"; {len(outcome.conflicts)} RRset(s) changed by someone since were left alone"
        )
    return outcome


# ---------------------------------------------------------------- read-only views


def default_stage(env: Environment) -> str:
    """The stage the journal says is next (or still incomplete)."""
    return journal.next_stage(journal.stack(get_state(env).read_journal()))


def preview(env: Environment, stage: str | None) -> tuple[str, list[Plan], list[Any]]:
    """The plan and lint findings of a stage, without touching anything."""
    st = get_stage(stage or default_stage(env))
    provider = get_provider(env)
    try:
        plans = build_plans(env, provider, st)
        for p in plans:
            if p:
                provider.check_plan(p.zone, p)  # what `prepare` would refuse, refused here too
        return st.name, plans, lint(env, st, plans, provider)
    finally:
        provider.close()
