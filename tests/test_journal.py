"""The typed journal events, the undo stack replayed from them, and the compare-and-swap restore."""

from __future__ import annotations

import pytest

from cutover import journal, undo
from cutover.journal import (
    Began,
    Completed,
    Failed,
    Interrupted,
    RolledBack,
    ZoneApplied,
    ZoneStep,
)
from cutover.plan import Change
from cutover.records import RRset

T = "2026-12-01T10:00:00Z"
MX_OLD = RRset("a.test.", "MX", 3600, ("1 smtp.google.com.",))
MX_LOW = MX_OLD.with_ttl(300)


def began(run: str, stage: str = "prepare", zones=("a.test.", "b.test.", "c.test."), **kw):
    changes = {z: [Change(MX_OLD, MX_LOW).to_dict()] for z in zones}
    return Began(run=run, stage=stage, time=T, who="t@h", zones=list(zones), changes=changes, **kw)


def entries(*events) -> list[dict]:
    return [journal.to_json(e) for e in events]


@pytest.mark.parametrize(
    "event",
    [
        began("r1", snapshot="s1", forced=True, forced_reason="why", t_old=3600),
        ZoneApplied("r1", "a.test.", T, "42"),
        ZoneStep(
            "r1",
            "a.test.",
            T,
            1,
            "MX union written",
            [{"name": "a.test.", "type": "MX", "after": MX_LOW.to_dict()}],
        ),  # fmt: skip
        Completed("r1", T, 300, "authoritative"),
        Failed("r1", T, "boom", "b.test.", True),
        Interrupted("r1", T, "SIGTERM", None),
        RolledBack("r2", T, ["r1"], None, False, ["a.test. MX: changed"], "provider"),
    ],
)
def test_every_event_round_trips_through_json(event):
    assert journal.from_json(journal.to_json(event)) == event


def test_unknown_events_and_missing_fields_are_not_events():
    assert journal.from_json({"event": "note", "run": "x"}) is None
    assert journal.from_json({"event": "began", "run": "x"}) is None  # stage, time, who missing
    assert journal.stack([{"event": "note"}, {"event": "began", "run": "x"}]) == []


def test_a_completed_run_is_a_complete_unit_with_its_t_old():
    units = journal.stack(
        entries(
            began("r1", t_old=3600),
            *[ZoneApplied("r1", z, T) for z in ("a.test.", "b.test.", "c.test.")],
            Completed("r1", T),
        )
    )
    assert [u.stage for u in units] == ["prepare"] and units[0].complete
    assert units[0].t_old == 3600 and units[0].applied_at == T
    assert journal.current_stage(units) == "prepare" and journal.next_stage(units) == "cutover"


def test_a_run_that_died_is_open_and_only_the_next_zone_is_unknown():
    units = journal.stack(entries(began("r1"), ZoneApplied("r1", "a.test.", T)))
    run = units[0].last
    assert units[0].open and run.state == "open"
    assert run.unknown() == ["b.test."] and run.written() == ["a.test.", "b.test."]
    assert journal.next_stage(units) == "prepare" and journal.current_stage(units) is None
    text = journal.describe_open(units[0], "demo")
    assert "prepare stopped without a trace (killed)" in text
    assert "zones a.test applied, b.test unknown" in text and "invoke rollback --env demo" in text


def test_a_failure_that_wrote_nothing_or_an_interruption_at_a_boundary_leaves_nothing_unknown():
    failed = entries(
        began("r1"), ZoneApplied("r1", "a.test.", T), Failed("r1", T, "x", "b.test.", True)
    )
    assert journal.stack(failed)[0].last.written() == ["a.test."]
    doubtful = entries(began("r1"), Failed("r1", T, "timeout", "a.test.", False))
    assert journal.stack(doubtful)[0].last.unknown() == ["a.test."]
    stopped = entries(began("r1"), ZoneApplied("r1", "a.test.", T), Interrupted("r1", T, "SIGINT"))
    assert journal.stack(stopped)[0].last.written() == ["a.test."]


def test_a_rerun_joins_the_unit_and_a_complete_rollback_pops_it_and_everything_after():
    log = entries(
        began("r1"),
        ZoneApplied("r1", "a.test.", T),
        Failed("r1", T, "x", "b.test.", True),
        began("r2", zones=("b.test.", "c.test.")),
        ZoneApplied("r2", "b.test.", T),
        ZoneApplied("r2", "c.test.", T),
        Completed("r2", T),
        began("r3", stage="cutover"),
        Completed("r3", T),
    )
    units = journal.stack(log)
    assert [(u.stage, [r.id for r in u.runs]) for u in units] == [
        ("prepare", ["r1", "r2"]),
        ("cutover", ["r3"]),
    ]
    kept = journal.stack(log + entries(RolledBack("r4", T, ["r3"], complete=False)))
    assert [u.stage for u in kept] == ["prepare", "cutover"]  # conflicts left: still on top
    assert [u.stage for u in journal.stack(log + entries(RolledBack("r4", T, ["r3"])))] == [
        "prepare"
    ]
    assert journal.stack(log + entries(RolledBack("r4", T, ["r1", "r2"]))) == []


def test_an_earlier_format_journal_still_replays_from_its_snapshots():
    legacy = [
        {"event": "applied", "stage": "prepare", "time": T, "snapshot": "s1", "zones": ["a."], "t_old": 10},
        {"event": "failed", "stage": "cutover", "time": T, "snapshot": "s2", "zones": []},
    ]  # fmt: skip
    units = journal.stack(legacy)
    assert [(u.stage, u.complete, u.snapshots) for u in units] == [
        ("prepare", True, ["s1"]),
        ("cutover", False, ["s2"]),
    ]
    assert units[0].t_old == 10 and units[1].last.legacy
    assert (
        journal.stack(legacy + [{"event": "rolled_back", "snapshots": ["s2"]}])[-1].stage
        == "prepare"
    )


# ---------------------------------------------------------------- compare-and-swap


def test_restore_puts_before_back_only_where_the_run_write_is_still_live():
    w = undo.Written("a.test.", MX_OLD, MX_LOW)
    assert undo.restore(w, MX_LOW, force=False) == (MX_OLD, None)
    assert undo.restore(w, MX_OLD, force=False) == (MX_OLD, None)  # already as before
    edited = RRset("a.test.", "MX", 300, ("5 mx.other.test.",))
    target, conflict = undo.restore(w, edited, force=False)
    assert target == edited and conflict is not None and "changed since the run" in conflict.line()
    assert undo.restore(w, edited, force=True) == (MX_OLD, None)
    created = undo.Written("a.test.", None, RRset("s1._domainkey.a.test.", "CNAME", 300, ("x.",)))
    assert undo.restore(created, created.after, force=False) == (None, None)


def test_restore_of_the_shared_apex_txt_keeps_values_added_since_and_compares_only_ours():
    before = RRset("a.test.", "TXT", 3600, ('"v=spf1 include:old ~all"', '"keep=1"'))
    after = RRset("a.test.", "TXT", 300, ('"v=spf1 include:old include:new ~all"', '"keep=1"', '"MS=ms1"'))  # fmt: skip
    w = undo.Written("a.test.", before, after, shared=True)
    later = after.with_values([*after.values, '"google-site-verification=abc"'])
    target, conflict = undo.restore(w, later, force=False)
    assert conflict is None
    assert target == RRset(
        "a.test.", "TXT", 3600, ('"v=spf1 include:old ~all"', '"keep=1"', '"google-site-verification=abc"')
    )  # fmt: skip
    spf_edited = RRset("a.test.", "TXT", 300, ('"v=spf1 include:x ~all"', '"keep=1"', '"MS=ms1"'))
    assert undo.restore(w, spf_edited, force=False)[1] is not None
    forced, none = undo.restore(w, spf_edited, force=True)
    assert none is None and forced.texts() == ["keep=1", "v=spf1 include:old ~all"]


def test_written_by_merges_runs_earliest_before_latest_after_and_skips_unwritten_zones():
    mx_new = RRset("a.test.", "MX", 300, ("0 a-test.mail.protection.outlook.com.",))
    log = entries(
        began("r1", zones=("a.test.", "b.test.")),
        ZoneApplied("r1", "a.test.", T),
        Failed("r1", T, "x", "b.test.", True),
        Began(
            "r2",
            "prepare",
            T,
            "t@h",
            zones=["a.test."],
            changes={"a.test.": [Change(MX_LOW, mx_new).to_dict()]},
        ),  # fmt: skip
        ZoneApplied("r2", "a.test.", T),
        Completed("r2", T),
    )
    wrote = undo.written_by(journal.stack(log)[0].runs)
    assert list(wrote) == ["a.test."]  # b.test. was refused before any write
    w = wrote["a.test."][("a.test.", "MX")]
    assert (w.before, w.after) == (MX_OLD, mx_new)


# ---------------------------------------------------------------- zone_step

MX_NEW = RRset("a.test.", "MX", 300, ("0 a-test.mail.protection.outlook.com.",))
MX_UNION = RRset("a.test.", "MX", 300, (*MX_OLD.values, *MX_NEW.values))


def step(run: str, zone: str = "a.test.", rrset: RRset | None = MX_UNION, n: int = 1) -> ZoneStep:
    key = {"name": zone, "type": "MX", "after": rrset.to_dict() if rrset else None}
    return ZoneStep(run, zone, T, n, "MX union written", [key])


def swap(run: str, zones=("a.test.", "b.test.")) -> Began:
    changes = {z: [Change(MX_OLD, MX_NEW).to_dict()] for z in zones}
    return Began(run=run, stage="cutover", time=T, who="t@h", zones=list(zones), changes=changes)


def test_a_run_killed_after_a_zone_step_wrote_that_zone_and_status_says_where_it_stopped():
    units = journal.stack(entries(swap("r1"), step("r1")))
    run = units[0].last
    assert run.state == "open" and run.applied == []
    assert run.unknown() == [] and run.written() == ["a.test."]  # known written, b.test. not
    assert run.stopped_in() == step("r1")
    text = journal.describe_open(units[0], "demo")
    assert "cutover stopped without a trace (killed)" in text
    assert "stopped after step 1 of a.test: MX union written" in text and "unknown" not in text
    # a failure in the step after it (drift between the steps) leaves the zone written too
    failed = journal.stack(entries(swap("r1"), step("r1"), Failed("r1", T, "x", "a.test.", True)))
    assert failed[0].last.written() == ["a.test."] and failed[0].last.unknown() == []
    # once the zone is applied the step is history: nothing stopped halfway there
    done = journal.stack(entries(swap("r1"), step("r1"), ZoneApplied("r1", "a.test.", T)))
    assert done[0].last.stopped_in() is None and done[0].last.unknown() == ["b.test."]


def test_rollback_counts_a_journaled_step_as_the_runs_write():
    # a step no built-in heuristic knows (a third MX set): only the journal can vouch for it
    odd = RRset("a.test.", "MX", 60, ("9 relay.example.",))
    wrote = undo.written_by(journal.stack(entries(swap("r1"), step("r1", rrset=odd)))[0].runs)
    w = wrote["a.test."][("a.test.", "MX")]
    assert (w.before, w.after, w.steps) == (MX_OLD, MX_NEW, (odd,))
    plan, conflicts = undo.plan_restore("a.test.", wrote["a.test."], [odd], force=False)
    assert conflicts == [] and [(c.before, c.after) for c in plan.changes] == [(odd, MX_OLD)]
    other = odd.with_values(["5 someone.else.example."])
    plan, conflicts = undo.plan_restore("a.test.", wrote["a.test."], [other], force=False)
    assert plan.changes == [] and len(conflicts) == 1  # someone's edit since: left alone
    # a step that deleted the RRset: absent counts as the run's write too
    gone = undo.written_by(journal.stack(entries(swap("r1"), step("r1", rrset=None)))[0].runs)
    plan, conflicts = undo.plan_restore("a.test.", gone["a.test."], [], force=False)
    assert conflicts == [] and [(c.before, c.after) for c in plan.changes] == [(None, MX_OLD)]


def test_a_journal_without_zone_step_replays_as_before():
    """Written by an earlier version, killed between the bridge's two MX applies: the zone is
    unknown, and the union it left is still recognised as the run's write (undo.halfway)."""
    run = journal.stack(entries(swap("r1")))[0].last
    assert run.unknown() == ["a.test."] and run.written() == ["a.test."]
    assert run.stopped_in() is None and run.steps == {}
    assert "a.test unknown" in journal.describe_open(journal.stack(entries(swap("r1")))[0], "d")
    wrote = undo.written_by([run])["a.test."]
    assert wrote[("a.test.", "MX")].steps == ()
    plan, conflicts = undo.plan_restore("a.test.", wrote, [MX_UNION], False, unknown=True)
    assert conflicts == [] and [(c.before, c.after) for c in plan.changes] == [(MX_UNION, MX_OLD)]
    plan, _ = undo.plan_restore("a.test.", wrote, [MX_OLD], False, unknown=True)
    assert plan.changes == []  # never written: nothing to undo
