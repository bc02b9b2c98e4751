"""How plans, findings and outcomes look: a coloured console (rich) or one JSON document.

Everything for a person goes to stderr when `--json` is given, so stdout holds exactly one JSON
document that CI can parse.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from datetime import datetime
from typing import Any

from .errors import UsageError
from .plan import Plan
from .records import relative
from .state.base import iso, utcnow


def _console(stderr: bool = False):
    from rich.console import Console

    # without a terminal (CI logs, pipes) rich would wrap at 80 columns and cut snapshot ids
    wide = None if sys.stdout.isatty() else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=wide)


def plan_lines(plan: Plan) -> list[tuple[str, str]]:
    """(style, text) lines of a Terraform-like diff for one zone."""
    out: list[tuple[str, str]] = []
    if not plan:
        return [("dim", f"  {plan.zone}: no changes")]
    out.append(("bold", f"  {plan.zone}"))
    for c in plan.changes:
        name = relative(c.key[0], plan.zone)
        sign, style = {"create": ("+", "green"), "delete": ("-", "red"), "update": ("~", "yellow")}[
            c.action
        ]
        ttl = ""
        if c.before and c.after and c.before.ttl != c.after.ttl:
            ttl = f"  ttl {c.before.ttl} -> {c.after.ttl}"
        elif c.rrset:
            ttl = f"  ttl {c.rrset.ttl}"
        out.append((style, f"  {sign} {name} {c.key[1]}{ttl}"))
        before = set(c.before.texts()) if c.before else set()
        after = set(c.after.texts()) if c.after else set()
        for v in sorted(before | after):
            if v in before and v in after:
                out.append(("dim", f"        {_short(v)}"))
            elif v in after:
                out.append(("green", f"      + {_short(v)}"))
            else:
                out.append(("red", f"      - {_short(v)}"))
    return out


def _short(value: str, width: int = 110) -> str:
    return value if len(value) <= width else value[: width - 12] + "…" + value[-10:]


class ConsoleUI:
    """The UI the stages talk to on a terminal (or in CI with --yes)."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.console = _console(stderr=as_json)

    def show_plans(self, plans: list[Plan], findings: list[Any]) -> None:
        for plan in plans:
            for style, text in plan_lines(plan):
                self.console.print(text, style=style, markup=False)
        for f in findings:
            style = "red" if f.severity == "error" else "yellow"
            self.console.print(f"  {f.line()}", style=style, markup=False)

    def confirm(self, question: str) -> bool:
        if not sys.stdin.isatty():
            raise UsageError(
                "no terminal to confirm on and no --yes; nothing was applied",
                "review the plan, then run again with --yes",
            )
        from rich.prompt import Confirm

        return Confirm.ask(question, console=self.console, default=False)

    def info(self, message: str) -> None:
        with contextlib.suppress(OSError):  # a terminal gone with SIGHUP must not stop a zone
            self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        with contextlib.suppress(OSError):
            self.console.print(f"warning: {message}", style="yellow", markup=False)

    def converging(self, report, final: bool) -> None:
        """A progress bar of (zone, server) pairs converged while waiting for propagation."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        converged, total = report.pairs()
        if not self.console.is_terminal:
            last = getattr(self, "_last_line", 0.0)
            if final or time.monotonic() - last >= TICK:
                self.info(f"propagation: {converged} of {total} zone×server pairs serve the change")
                self._last_line = time.monotonic()
            return
        bar = getattr(self, "_bar", None)
        if bar is None:
            if final:
                return  # converged on the first look: no bar needed
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=self.console,
                transient=True,
            )
            bar.start()
            self._bar = bar
            self._bar_task = bar.add_task("zone×server pairs serving the change", total=total)
        bar.update(self._bar_task, completed=converged, total=total)
        if final:
            bar.stop()
            self._bar = None

    def countdown(self, until: datetime, label: str) -> None:
        if not self.console.is_terminal:
            self._plain_countdown(until, label)
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        total = max((until - utcnow()).total_seconds(), 0.0)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"{label} (until {iso(until)})", total=total or 1)
            while (left := (until - utcnow()).total_seconds()) > 0:
                progress.update(task, completed=total - left)
                time.sleep(min(left, 0.25))
        self.console.print(f"{label}: gate open", markup=False)

    def _plain_countdown(self, until: datetime, label: str) -> None:
        """No terminal (a CI log): one plain line now and one every TICK seconds, so a job that
        waits an hour for TTLs says what it waits for and how long, instead of nothing."""
        next_line = 0.0
        while (left := (until - utcnow()).total_seconds()) > 0:
            if time.monotonic() >= next_line:
                self.info(f"{label}: {math.ceil(left)}s left (gate opens at {iso(until)})")
                next_line = time.monotonic() + TICK
            time.sleep(min(left, 0.25))
        self.info(f"{label}: gate open")


TICK = 30.0


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def _conflict_doc(c) -> dict[str, Any]:
    """An RRset left alone by a rollback, or an MTA-STS policy file (no RRset key: where it is
    published instead)."""
    if not hasattr(c, "key"):  # mtasts.lifecycle.PolicyConflict
        return {"zone": c.zone, "location": c.location, "message": c.line()}
    return {"zone": c.zone, "name": c.key[0], "type": c.key[1], "message": c.line()}


def outcome_doc(outcome) -> dict[str, Any]:
    return {
        "ok": not outcome.conflicts,
        "stage": outcome.stage,
        "changed": outcome.changed,
        "applied_zones": outcome.applied,
        "snapshot": outcome.snapshot,
        "message": outcome.message,
        "run": outcome.run,
        "conflicts": [_conflict_doc(c) for c in outcome.conflicts],
        "plans": [p.to_dict() for p in outcome.plans],
        "findings": [f.to_dict() for f in outcome.findings],
        **({"probe": outcome.probe} if getattr(outcome, "probe", None) is not None else {}),
    }


def print_render(doc: dict[str, Any]) -> None:
    console = _console()
    for stage, domains in doc["stages"].items():
        console.print(f"[bold]{stage}[/bold]")
        for domain, rows in domains.items():
            console.print(f"  {domain}", style="bold", markup=False)
            for row in rows:
                if row["values"] == []:
                    console.print(f"    {row['name']} {row['type']} (removed)", markup=False)
                    continue
                values = " (keep served values)" if row["values"] is None else ""
                shared = " (shared: other values kept)" if row["shared"] else ""
                console.print(
                    f"    {row['name']} {row['type']} {row['ttl']}{shared}{values}", markup=False
                )
                for v in row["values"] or []:
                    console.print(f"      {_short(v)}", style="cyan", markup=False)


def print_snapshots(doc: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table("id", "stage", "created", "zones", "rrsets", "checksum")
    for row in doc["snapshots"]:
        table.add_row(
            row["id"],
            row["stage"] or "?",
            row["created"] or "?",
            ", ".join(row.get("zones", [])),
            str(row.get("rrsets", "")),
            "ok" if row["valid"] else "BROKEN",
        )
    _console().print(table)


def print_status(doc: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    console.print(
        f"environment [bold]{doc['env']}[/bold]: current stage "
        f"[bold]{doc['current_stage'] or 'none'}[/bold], next {doc['next_stage']}"
    )
    for problem in doc.get("journal_problems") or []:
        console.print(f"warning: {problem}", style="yellow", markup=False)
    if doc.get("open_run"):
        console.print(doc["open_run"]["message"], style="red", markup=False)
    gate = doc.get("cutover_gate")
    if gate:
        state = "open" if gate["open"] else f"opens in {gate['seconds_left']}s"
        console.print(f"cutover gate: {state} (at {gate['opens_at']})")
    for unit in doc["stack"]:
        if unit["forced"]:
            console.print(
                f"[yellow]{unit['stage']} was forced past a gate (see the journal)[/yellow]"
            )
    table = Table("domain", "MX served", "SPF served")
    for name, row in doc["domains"].items():
        table.add_row(name, "\n".join(row["mx"]) or "(none)", "\n".join(row["spf"]) or "(none)")
    console.print(table)
    _print_status_mail(console, doc)
    snap = doc.get("latest_snapshot")
    console.print(f"latest snapshot: {snap['id']} ({snap['stage']})" if snap else "no snapshots")
    if doc.get("lock"):
        lock = doc["lock"]
        console.print(
            f"[yellow]locked by {lock.get('owner')} pid {lock.get('pid')} since "
            f"{lock.get('started')}[/yellow]"
        )
    console.print(f"verification: {doc['verification']}")


def _print_status_mail(console, doc: dict[str, Any]) -> None:
    """`status`: the journaled SMTP probe of the new MX, and each managed MTA-STS policy."""
    probe = doc.get("probe")
    if probe:
        verdict = "every new MX accepts" if probe.get("ok") else "NOT every new MX accepts"
        mode = "required" if probe.get("require") else "advisory"
        console.print(
            f"probe at {probe['stage']} ({probe['time']}, {mode}): {verdict}", markup=False
        )
        for host in probe.get("hosts") or []:
            console.print(f"  probe: {host['line']}", markup=False)
    for domain, sts in (doc.get("mta_sts") or {}).items():
        if sts["error"] or not sts["published"]:
            what = sts["error"] or f"no policy file at {sts['location']}"
            console.print(f"MTA-STS {domain}: {what}", style="red", markup=False)
        else:
            console.print(
                f"MTA-STS {domain}: mode {sts['mode']}, mx {', '.join(sts['mx']) or 'none'}, "
                f"max_age {sts['max_age']} ({sts['location']})",
                markup=False,
            )
        if sts["id_matches"] is True:
            console.print(f"  _mta-sts id={sts['served_id']}: the published file's", markup=False)
        elif sts["id_matches"] is None:
            console.print(
                f"  _mta-sts id={sts['served_id']}: the domain's own (original policy)",
                markup=False,
            )
        else:
            console.print(f"  _mta-sts id drift: {sts['drift']}", style="red", markup=False)


def print_validation(report) -> None:
    """One screen: a line per zone, then only what is wrong (CI logs stay short)."""
    from rich.table import Table

    console = _console()
    converged, total = report.pairs()
    table = Table("zone", "checks", "failed", "warnings")
    zones = sorted({f.zone for f in report.findings})
    for zone in zones:
        fs = [f for f in report.findings if f.zone == zone]
        failed = sum(1 for f in fs if f.required and not f.ok)
        warned = sum(1 for f in fs if not f.required and not f.ok)
        table.add_row(zone, str(len(fs)), f"[red]{failed}[/red]" if failed else "0", str(warned))
    console.print(table)
    for f in report.failures[:40]:
        console.print(f"  {f.line()}", style="red", markup=False)
    if len(report.failures) > 40:
        console.print(f"  ... and {len(report.failures) - 40} more (use --json)", markup=False)
    for f in report.warnings[:20]:
        console.print(f"  advisory {f.line()}", style="yellow", markup=False)
    for f in report.policy:
        style = "red" if f.severity == "error" else "yellow"
        console.print(f"  policy {f.line()}", style=style, markup=False)
    for note in report.notes:
        console.print(f"note: {note}", style="yellow", markup=False)
    if getattr(report, "probe", None) is not None:
        print_probe(report.probe)
    verdict = "in sync" if report.ok else "NOT in sync"
    console.print(
        f"validate {report.env} ({report.stage}): {verdict}; {converged}/{total} zone×server "
        f"pairs converged, {len(report.findings)} checks in {report.elapsed:.1f}s",
        markup=False,
    )


def print_probe(result) -> None:
    """A row per MX host and address: what it answered; then the notes and a verdict."""
    from rich.table import Table

    console = _console()
    table = Table("domain", "MX host", "address", "TLS", "finding", "detail")
    for h in result.hosts:
        if not h.addresses:
            table.add_row(h.domain, h.host, "-", "", f"[red]{h.finding}[/red]", h.note or "")
        for a in h.addresses:
            tls = "" if a.tls is None else a.tls.version or ("invalid" if a.tls.offered else "no")
            style = "green" if a.finding == "ACCEPTS" else "red"
            detail = a.detail + (" (no route here: not counted)" if a.family_unreachable else "")
            row = (h.domain, h.host, f"{a.address}:{a.port}", tls)
            table.add_row(*row, f"[{style}]{a.finding}[/{style}]", _short(detail, 90))
    console.print(table)
    for h in result.hosts:
        if h.note and h.addresses:  # a host with no address says why in its row
            console.print(f"note: {h.note}", style="yellow", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", style="yellow", markup=False)
    passing = len(result.hosts) - len(result.failures)
    console.print(
        f"probe {result.env} ({result.stage}, {result.source} MX): {passing}/{len(result.hosts)} "
        f"MX host(s) accept every probe recipient, in {result.elapsed:.1f}s",
        markup=False,
    )


def lint_doc(stage: str, findings: list[Any], strict: bool, failing: list[Any]) -> dict[str, Any]:
    """The `lint --json` document; its shape is documented in docs/lint.md."""
    return {
        "schema": "mailcutover.lint/1",
        "stage": stage,
        "strict": strict,
        "ok": not failing,
        "summary": {
            "errors": sum(1 for f in findings if f.severity == "error"),
            "warnings": sum(1 for f in findings if f.severity == "warning"),
        },
        "findings": [f.to_dict() for f in findings],
    }


def print_findings(stage: str, findings: list[Any]) -> None:
    console = _console()
    for f in findings:
        style = "red" if f.severity == "error" else "yellow"
        console.print(f.line(), style=style, markup=False)
    errors = sum(1 for f in findings if f.severity == "error")
    console.print(
        f"lint {stage}: {errors} error(s), {len(findings) - errors} warning(s)", markup=False
    )


def plan_summary(stage: str, plans: list[Plan], findings: list[Any]) -> str:
    from .planfile import counts

    n = counts(plans)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    return (
        f"{stage}: {n['zones_changed']} of {n['zones']} zone(s) change: {n['create']} to add, "
        f"{n['update']} to change, {n['delete']} to remove; {errors} lint error(s), "
        f"{warnings} warning(s)"
    )


def print_plan(env: str, stage: str, plans: list[Plan], findings: list[Any]) -> None:
    ui = ConsoleUI()
    ui.info(f"plan for {env}: stage {stage}, {len(plans)} zone(s)")
    ui.show_plans(plans, findings)
    ui.info(plan_summary(stage, plans, findings))


def plan_doc(env: str, stage: str, plans: list[Plan], findings: list[Any], failing) -> dict:
    from .planfile import counts

    return {
        "schema": "mailcutover.plan/1",
        "ok": not failing,
        "env": env,
        "stage": stage,
        "counts": counts(plans),
        "changes_pending": any(plans),
        "plans": [p.to_dict() for p in plans],
        "findings": [f.to_dict() for f in findings],
    }


def plan_markdown(env: str, stage: str, plans: list[Plan], findings: list[Any]) -> str:
    """The plan for a pull request comment: one table per zone, then the findings."""
    out = [
        f"### mailcutover plan: `{env}`, stage `{stage}`",
        "",
        plan_summary(stage, plans, findings),
        "",
    ]
    for plan in plans:
        if not plan:
            out.append(f"- `{plan.zone}`: no changes")
            continue
        out += [
            "",
            f"#### `{plan.zone}`",
            "",
            "| | name | type | TTL | values |",
            "|---|---|---|---|---|",
        ]
        for c in plan.changes:
            sign = {"create": "+", "delete": "-", "update": "~"}[c.action]
            ttl = f"{c.before.ttl} → {c.after.ttl}" if c.before and c.after else c.rrset.ttl
            before = set(c.before.texts()) if c.before else set()
            after = set(c.after.texts()) if c.after else set()
            values = [f"+ `{v}`" if v not in before else f"- `{v}`" if v not in after else f"`{v}`"
                      for v in sorted(before | after)]  # fmt: skip
            name = relative(c.key[0], plan.zone)
            out.append(f"| {sign} | `{name}` | {c.key[1]} | {ttl} | {'<br>'.join(values)} |")
    if findings:
        out += ["", "#### Lint", ""] + [f"- {f.line()}" for f in findings]
    return "\n".join(out) + "\n"
