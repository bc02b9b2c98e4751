"""`invoke validate`: does live DNS hold what the repository says for a stage?

Kept apart from the stages on purpose: it changes nothing, takes no lock, and CI runs it against
production at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import journal
from .config import Environment
from .plan import Change
from .providers import get_provider
from .records import RRset, fqdn
from .stage import NONE, Stage, get_stage
from .state import get_state
from .verify.dnsquery import NOT_AUTHORITATIVE, REFUSED, SERVFAIL, TIMEOUT, UNREACHABLE
from .verify.propagation import Report, check, expected_for_stage

ANSWERLESS = {TIMEOUT, UNREACHABLE, REFUSED, SERVFAIL, NOT_AUTHORITATIVE}


def validation_stage(env: Environment, stage: str | None) -> Stage:
    """The stage to compare against: the given one (or `none`, the state before prepare),
    else the last one in place, else `none`."""
    if stage:
        return get_stage(stage, allow_none=True)
    units = journal.stack(get_state(env).read_journal())
    return get_stage(journal.current_stage(units) or NONE, allow_none=True)


def validate(
    env: Environment,
    stage: str | None,
    *,
    wait: bool = False,
    progress: Callable[[Report, bool], None] | None = None,
    probe: bool = False,
) -> Report:
    """`probe` (or `probe.in_validate`) also probes the served MX over SMTP (cutover/probe)."""
    from .render import render_domain

    stage = validation_stage(env, stage)
    renders = {fqdn(d.name): render_domain(env, d) for d in env.domains}  # once, for both
    expected = expected_for_stage(env, stage, renders)
    _pin_kept_values(env, stage, expected)
    provider = get_provider(env)
    try:
        lookup, ahead = _lint_ahead(env, provider, renders, expected)
        report = check(
            env, provider, expected, stage, wait=wait, progress=progress, alongside=ahead
        )
        lint_served(env, stage, report, provider, renders, lookup)
        if env.mta_sts is not None:  # the `_mta-sts` id served vs the policy file published
            from .mtasts.announced import check_ids

            check_ids(env, report)
        if probe or env.probe.in_validate:
            from .probe.run import probe_served

            report.probe = probe_served(env, served_rrsets(report), stage.name)
        return report
    finally:
        provider.close()


def _pin_kept_values(env: Environment, stage: Stage, expected: dict) -> None:
    """A stage that keeps a record's values (prepare lowers the MX TTL only) would accept any
    values there. While that stage is the one in place, pin them to what its runs wrote, so an
    MX changed by hand after `prepare` is drift, not "in sync"."""
    units = journal.stack(get_state(env).read_journal())
    unit = journal.find(units, stage.name)
    if unit is None or not unit.complete or journal.current_stage(units) != stage.name:
        return
    wrote = {}
    for run in unit.runs:
        for zone, changes in run.began.changes.items():
            for data in changes:
                change = Change.from_dict(data)
                wrote[(zone, change.key)] = change.after
    for zone, wants in expected.items():
        for i, want in enumerate(wants):
            key = (zone, (fqdn(want.name), want.type.upper()))
            if want.values is None and key in wrote:
                after = wrote[key]
                wants[i] = replace(want, values=after.values if after else ())


def _lint_ahead(env: Environment, provider, renders: dict, expected: dict):
    """The lint's lookup, and its lookups for what the zones should serve, to be asked while
    the servers are asked (a served record that differs costs one more wave afterwards). When
    the lint resolvers cannot even be set up, lint_served reports that, as before."""
    from .errors import CutoverError
    from .verify.lookup import Lookup, lint_addresses
    from .verify.policy import questions

    try:
        lookup = Lookup(lint_addresses(env, provider))
    except CutoverError:
        return None, None
    wanted = []
    for zone, dr in renders.items():
        rrsets = {}
        for want in expected.get(zone, []):
            rrset = want.merge(None)
            if rrset is not None:
                rrsets[rrset.key] = rrset
        wanted += questions(dr, rrsets)
    return lookup, lambda: lookup.prefetch_async(wanted)


def served_rrsets(report: Report) -> dict[str, dict[tuple[str, str], RRset]]:
    """Per zone, what the first authoritative server that answered serves at the managed names."""
    out: dict[str, dict[tuple[str, str], RRset]] = {}
    first: dict[str, str] = {}
    for f in report.findings:
        if f.role != "authoritative" or f.status in ANSWERLESS:
            continue
        if first.setdefault(f.zone, f.server) != f.server:
            continue
        zone = out.setdefault(f.zone, {})
        if f.got:
            rrset = RRset.from_dict(f.got)
            zone[rrset.key] = rrset
    return out


def lint_served(
    env: Environment,
    stage: str,
    report: Report,
    provider,
    renders: dict | None = None,
    lookup=None,
) -> None:
    """The same policy checks lint runs before apply, on the records as served: every zone
    with one shared lookup, its outside names asked once and concurrently."""
    from .render import render_domain
    from .verify.lookup import Lookup, lint_addresses
    from .verify.policy import lint_zones

    served = served_rrsets(report)
    if not served:
        report.notes.append(
            "no authoritative answer to lint: policy checks on served records skipped"
        )
        return
    lookup = lookup or Lookup(lint_addresses(env, provider))
    lookup.probe(next(iter(served)))
    zones = []
    for domain in env.domains:
        zone = fqdn(domain.name)
        if zone in served:
            dr = renders[zone] if renders and zone in renders else render_domain(env, domain)
            zones.append((dr, served[zone]))
    report.policy += lint_zones(env, stage, zones, lookup)
    report.lookups = {"asked": lookup.prefetched, "waves": lookup.waves, "late": lookup.misses}
