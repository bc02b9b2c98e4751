"""The probe in the cutover stage: before MX is switched, ask the new MX whether it takes mail.

With `probe.require: true` the stage refuses (exit 1, nothing changed) unless every target MX
host takes every probe recipient; otherwise the findings are printed as advisory. Either way
they go into the run's `began` event (`probe`), so the journal says what the new MX answered
when the switch was made. The probe runs only for environments with a `probe:` section, so a
runner without outbound port 25 is never slowed by it unasked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Environment
from ..errors import ChecksFailed
from ..stage import Stage, get_stage


def switches_mx_now(stage: Stage) -> bool:
    """The stage that points MX at the new provider (not the ones after it)."""
    before = get_stage(stage.requires) if stage.requires else None
    return stage.switches_mx and (before is None or not before.switches_mx)


def wanted(env: Environment, stage: Stage) -> bool:
    return "probe" in env.raw and switches_mx_now(stage)


def with_probe(env: Environment, stage: Stage, target: Any, gate: Callable, *, force: bool):
    """`gate` followed by the probe of the stage's MX; the findings land on `target.probe`."""
    from .run import probe_stage

    def probed_gate(units: list, ui: Any) -> str:
        forced = gate(units, ui)
        report = probe_stage(env, stage.name)
        require = env.probe.require
        target.probe = report.journal_summary(require)
        for host in report.hosts:
            if host.accepts and host.ok:
                ui.info(f"probe: {host.line()}")
            else:
                ui.warn(f"probe: {host.line()}")
        if not require or report.accepts:
            if not report.accepts:
                ui.warn("probe: advisory (probe.require is false); written to the journal")
            return forced
        bad = [h for h in report.hosts if not h.accepts]
        why = (
            f"{stage} refused: probe.require: {len(bad)} of {len(report.hosts)} new MX host(s) "
            f"do not take every probe recipient; first: {bad[0].line()}"
        )
        if not force:
            raise ChecksFailed(
                why,
                "make the new provider accept the domain (accepted domains, mailboxes), check "
                f"with `invoke probe --env {env.name}`; nothing was applied",
            )
        ui.warn(f"--force: {why}; this is written to the journal")
        return f"{forced}; {why}" if forced else why

    return probed_gate
