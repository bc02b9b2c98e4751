"""The Invoke collection: parse flags, call cutover.*, print, set the exit code. No logic here.

Heavy modules are imported inside the tasks so that `invoke --list` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys

from invoke import Collection, Exit, Task, task

ENV_HELP = {"env": "environment name (environments/NAME.yaml); default $CUTOVER_ENV"}
DOMAIN_HELP = {**ENV_HELP, "domain": "only this domain (repeatable)"}
EXITS = (
    "Exit codes: 0 done / in sync; 1 checks failed (drift, lint, gate closed); 2 bad input or "
    "usage; 3 provider, network or state failure; 4 lock held; 129/130/143 stopped by "
    "SIGHUP/SIGINT/SIGTERM."
)
#: the same short flag means the same thing in every task; no other flag has one
SHORT = {"env": "e", "yes": "y", "json": "j", "force": "f", "wait": "w"}
#: third-party loggers that Invoke's -d would otherwise open at DEBUG (botocore logs credentials)
QUIET = ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "httpcore", "cloudflare")


class CutoverTask(Task):
    """Short flags from SHORT only: Invoke's automatic ones gave -s three meanings."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["auto_shortflags"] = False
        super().__init__(*args, **kwargs)

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        if name in SHORT and SHORT[name] not in taken_names:
            opts["names"] = [*opts["names"], SHORT[name]]
        return opts


ctask = functools.partial(task, klass=CutoverTask)


def _say(line: str) -> None:
    """One line on stderr; a terminal that went away (SIGHUP, a closed pipe) is not an error."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def _fail(line: str, code: int, as_json: bool) -> Exit:
    """The one line (and with --json, the one document) of a failure; raise what it returns."""
    _say(f"error: {line}")
    if as_json:
        from .report import print_json

        with contextlib.suppress(OSError):
            print_json({"ok": False, "error": line, "exit_code": code})
    return Exit(code=code)


def _guard(fn=None, *, writes: bool = False):
    """Turn our errors into one line on stderr and the documented exit code. `writes`: the task
    changes DNS or state, so Invoke's `--dry` (echo instead of run) must refuse it, not run it."""
    if fn is None:
        return functools.partial(_guard, writes=writes)

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        from .errors import CutoverError
        from .signals import Interrupted

        for name in QUIET:
            logging.getLogger(name).setLevel(logging.INFO)
        as_json = bool(kwargs.get("json"))
        if writes and c.config.run.dry:
            raise _fail(
                f"--dry cannot preview `{fn.__name__}`: it would change DNS or state; "
                "use `plan` to see what it would do",
                2,
                as_json,
            )
        try:
            return fn(c, *args, **kwargs)
        except CutoverError as exc:
            raise _fail(exc.line(), exc.exit_code, as_json) from None
        except Interrupted as exc:
            told = (
                getattr(exc, "message", None) or f"interrupted by {exc.name}; nothing was applied"
            )
            raise _fail(
                f"{told}; the lock is released, see `status`", exc.exit_code, as_json
            ) from None
        except KeyboardInterrupt:
            raise _fail("interrupted; the lock is released, see `status`", 130, as_json) from None

    return wrapper


def _env(env, domain=None):
    from .config import load_environment, only_domains

    return only_domains(load_environment(env), domain or [])


@ctask(iterable=["domain"], help={**DOMAIN_HELP, "stage": "prepare | cutover | finalize", "json": "print JSON"})  # fmt: skip
@_guard
def render(c, env=None, stage=None, json=False, domain=None):
    """Print the records each stage wants for each domain. Exit codes: 0, or 2 bad input."""
    from . import report, views

    doc = views.render_doc(_env(env, domain), stage)
    if json:
        report.print_json(doc)
    else:
        report.print_render(doc)


@ctask(
    iterable=["domain"],
    help={
        **DOMAIN_HELP,
        "stage": "default: the next stage per the journal",
        "json": "print one JSON document (schema mailcutover.plan/1)",
        "markdown": "print the plan as Markdown (for a pull request comment)",
        "out": "save the plan to this file; `<stage> --plan FILE` applies exactly it",
        "detailed_exitcode": "exit 5 when changes are pending (0: none)",
        "strict": "lint warnings fail too",
    },
)
@_guard
def plan(c, env=None, stage=None, json=False, markdown=False, out=None, detailed_exitcode=False,
         strict=False, domain=None):  # fmt: skip
    """Show what a stage would change, and the lint findings, without changing anything.

    Exit codes: 0 nothing blocks; 1 lint blocks the stage; 2 bad input; 3 provider failure;
    5 (with --detailed-exitcode) changes are pending.
    """
    from . import planfile, report, stages
    from .errors import CHANGES_PENDING
    from .verify.policy import blocking

    environment = _env(env, domain)
    stage, plans, findings = stages.preview(environment, stage)
    failing = blocking(findings, strict)
    if out and not failing:
        planfile.save(out, environment, stage, plans)
    if json:
        report.print_json(report.plan_doc(environment.name, stage, plans, findings, failing))
    elif markdown:
        sys.stdout.write(report.plan_markdown(environment.name, stage, plans, findings))
    else:
        report.print_plan(environment.name, stage, plans, findings)
    if failing:
        raise _fail(f"plan: {len(failing)} lint finding(s) block {stage}; first: "
                    f"{failing[0].line()}", 1, False)  # fmt: skip
    if detailed_exitcode and any(plans):
        raise Exit(code=CHANGES_PENDING)


@ctask(
    iterable=["domain"],
    help={
        **DOMAIN_HELP,
        "stage": "default: the next stage per the journal",
        "json": "print one JSON document (schema: docs/lint.md)",
        "strict": "warnings fail too",
    },
)
@_guard
def lint(c, env=None, stage=None, json=False, strict=False, domain=None):
    """Check SPF, DMARC, DKIM, MX and MTA-STS as a stage would leave them; changes nothing.

    Exit codes: 0 nothing blocks; 1 findings block the stage; 2 bad input; 3 no resolver answered.
    """
    from . import report, stages
    from .verify.policy import blocking

    stage, plans, findings = stages.preview(_env(env, domain), stage)
    failing = blocking(findings, strict)
    if json:
        report.print_json(report.lint_doc(stage, findings, strict, failing))
    else:
        report.print_findings(stage, findings)
    if failing:
        raise _fail(f"lint: {len(failing)} finding(s) block {stage}; first: "
                    f"{failing[0].line()}", 1, False)  # fmt: skip


def _stage_task(name: str, doc: str):
    @ctask(
        name=name,
        help={
            **ENV_HELP,
            "yes": "apply without asking",
            "force": "override a closed gate",
            "wait": "wait for a time gate to open",
            "json": "print the outcome as JSON",
            "strict": "lint warnings block the apply too",
            "plan": "apply exactly this saved plan (`plan --out`), or refuse if anything changed",
        },
    )
    @_guard(writes=True)
    def run(c, env=None, yes=False, force=False, wait=False, json=False, strict=False, plan=None):
        from . import planfile, report, stages

        environment = _env(env)
        saved = (plan, planfile.load(plan, environment, name)) if plan else None
        ui = report.ConsoleUI(as_json=json)
        outcome = stages.run_stage(
            environment, name, ui, yes=yes, force=force, wait=wait, strict=strict, saved=saved
        )
        if json:
            report.print_json(report.outcome_doc(outcome))
        else:
            ui.info(outcome.message)

    run.__doc__ = f"{doc}\n\n{EXITS}"
    run.__name__ = name
    return run


prepare = _stage_task("prepare", "Lower TTLs, publish the new provider's records, SPF union.")
cutover = _stage_task("cutover", "Switch MX in one change, and the client records.")
finalize = _stage_task("finalize", "Drop the old provider's records, raise TTLs, set DMARC.")


@ctask(
    help={
        **ENV_HELP,
        "snapshot": "snapshot id, a unique prefix of one, or latest: restore it exactly",
        "yes": "apply without asking",
        "force": "also overwrite RRsets someone changed after the run being undone",
        "state": "where the runs kept their state (DIR or s3://BUCKET/PREFIX), for a "
        "rollback when the environment file cannot be read",
        "json": "print the outcome as JSON",
    }
)
@_guard(writes=True)
def rollback(c, env=None, snapshot=None, yes=False, force=False, state=None, json=False):
    """Undo the latest stage (only where DNS still holds what it wrote), or restore a snapshot.

    Exit codes: 0 restored (or nothing to roll back); 1 RRsets someone changed since were left
    alone (--force overwrites them); 2 bad input; 3 provider or state failure; 4 lock held;
    129/130/143 stopped by a signal (run rollback again).
    """
    from . import report, stages
    from .write_settings import load_for_rollback

    ui = report.ConsoleUI(as_json=json)
    settings = load_for_rollback(env, state=state, warn=ui.warn)
    outcome = stages.run_rollback(settings, ui, snapshot_id=snapshot, yes=yes, force=force)
    if json:
        report.print_json(report.outcome_doc(outcome))
    else:
        ui.info(outcome.message)
    if outcome.conflicts:
        raise _fail(f"rollback left {len(outcome.conflicts)} RRset(s) that someone changed "
                    f"since the run; review them, then `rollback --env {settings.name} --force` "
                    "to overwrite them", 1, False)  # fmt: skip


@ctask(
    iterable=["domain"],
    help={
        **DOMAIN_HELP,
        "stage": "compare with this stage, or none (before prepare: what the from profile "
        "renders); default: the stage in place, before any stage none",
        "wait": "re-check until every server serves it or validation.timeout expires",
        "json": "print one JSON document",
        "junit": "write JUnit XML to this path",
        "probe": "also probe the served MX over SMTP (as `probe`; on with probe.in_validate)",
    },
)
@_guard
def validate(c, env=None, stage=None, wait=False, json=False, junit=None, domain=None,
             probe=False):  # fmt: skip
    """Check that every authoritative server (and the resolvers) serve what the repo says.

    Exit codes: 0 in sync; 1 drift or not served; 2 bad input; 3 no server answered.
    """
    from . import report, validation

    ui = report.ConsoleUI(as_json=json)
    result = validation.validate(
        _env(env, domain), stage, wait=wait, progress=ui.converging, probe=probe
    )
    if junit:
        from .junit import junit_xml
        from .outputs import write_file

        write_file(junit, junit_xml(result), "--junit")
    if json:
        report.print_json(result.to_dict())
    else:
        report.print_validation(result)
    if result.exit_code:
        raise _fail(result.error_line(), result.exit_code, False)


@ctask(
    iterable=["domain"],
    help={
        **DOMAIN_HELP,
        "stage": "probe the MX this stage points at (default: cutover, the new provider's)",
        "json": "print one JSON document (schema mailcutover.probe/1, see the README)",
    },
)
@_guard
def probe(c, env=None, stage=None, json=False, domain=None):
    """Ask each MX host over SMTP whether it takes mail for the probe recipients (never DATA).

    Exit codes: 0 every host accepts; 1 a host refuses, fails TLS or defers; 2 bad input;
    3 no host answered (outbound port 25 blocked?).
    """
    from . import report
    from .probe.run import probe_stage

    result = probe_stage(_env(env, domain), stage)
    if json:
        report.print_json(result.to_dict())
    else:
        report.print_probe(result)
    if result.exit_code:
        raise _fail(result.error_line(), result.exit_code, False)


@ctask(help={**ENV_HELP, "json": "print JSON"})
@_guard
def snapshots(c, env=None, json=False):
    """List the snapshots of an environment, oldest first. Exit codes: 0, 2 bad input, 3."""
    from . import report, views

    doc = views.snapshots_doc(_env(env))
    if json:
        report.print_json(doc)
    else:
        report.print_snapshots(doc)


@ctask(
    help={
        **ENV_HELP,
        "port": "UDP and TCP port on 127.0.0.1 (default 5300)",
        "smtp_port": "port of the SMTP stand-in for `probe.hosts: embedded` (default: a free one)",
    }
)
@_guard
def serve(c, env=None, port="5300", smtp_port="0"):
    """Run the embedded authoritative server for a zone-file environment in the foreground,
    and the demo's SMTP stand-in when `probe.hosts` says `embedded`.

    Exit codes: 0 stopped with Ctrl-C; 2 bad input (not a zone-file environment, a bad or busy
    port).
    """
    from . import views
    from .outputs import port_number

    smtp = 0 if str(smtp_port) == "0" else port_number(smtp_port, "--smtp-port")
    views.serve(_env(env), port_number(port), smtp)


@ctask(iterable=["domain"], help={**DOMAIN_HELP, "json": "print JSON"})
@_guard
def status(c, env=None, json=False, domain=None):
    """Show the current stage, what each domain serves, the cutover gate, the last snapshot, and
    a run that stopped halfway. Exit codes: 0, 2 bad input, 3 provider failure."""
    from . import report, views

    doc = views.status_doc(_env(env, domain))
    if json:
        report.print_json(doc)
    else:
        report.print_status(doc)


@ctask(
    help={
        **ENV_HELP,
        "yes": "remove the lock without asking",
        "force": "remove it even when its holder is still running",
    }
)
@_guard(writes=True)
def unlock(c, env=None, yes=False, force=False):
    """Remove a stale lock left by a run that died (confirms first, naming the holder).

    Exit codes: 0 removed or not locked; 2 not confirmed; 4 its holder is still running.
    """
    from . import report, views
    from .write_settings import load_for_rollback

    ui = report.ConsoleUI()
    views.unlock(load_for_rollback(env, warn=ui.warn), ui, yes=yes, force=force)


@ctask(help={"env": "only the profiles and senders this environment uses", "json": "print JSON"})
@_guard
def profiles(c, env=None, json=False):
    """List every mail provider profile and sender overlay with the inputs each declares.

    Exit codes: 0, or 2 bad input.
    """
    from . import catalog, report
    from .config import project_root

    only = catalog.used_by(_env(env)) if env else None
    doc = catalog.catalog_doc(project_root(), only)
    if json:
        report.print_json(doc)
    else:
        print(catalog.catalog_text(doc), end="")


@ctask(
    iterable=["domain"],
    help={
        **DOMAIN_HELP,
        "format": "text | md | json | html (default text)",
        "output": "write the report to this file instead of stdout",
        "mta_sts_dir": "saved MTA-STS policies, <dir>/<domain>.txt (win over the served ones)",
    },
)
@_guard
def audit(c, env=None, format="text", output=None, mta_sts_dir=None, domain=None):
    """Inventory each domain's mail DNS (authoritative servers) and the risks of cutting it over.

    Exit codes: 0 reported; 2 bad input; 3 no authoritative server answered.
    """
    from .audit import report
    from .outputs import write_file

    report.check_format(format)
    report.check_policy_dir(mta_sts_dir)
    doc = report.audit(_env(env, domain), mta_sts_dir=mta_sts_dir)
    text = report.render(doc, format)
    if output:
        write_file(output, text, "--output")
        _say(f"audit: {doc['summary']['domains']} domain(s), {doc['summary']['risks_total']} "
             f"risk(s); written to {output}")  # fmt: skip
    else:
        sys.stdout.write(text)
    if doc["summary"]["unanswered"]:
        raise _fail(f"audit: no authoritative server answered for "
                    f"{doc['summary']['unanswered']} domain(s); check validation.nameservers",
                    3, False)  # fmt: skip


ns = Collection(
    render,
    plan,
    lint,
    prepare,
    cutover,
    finalize,
    rollback,
    validate,
    probe,
    snapshots,
    serve,
    status,
    unlock,
    profiles,
    audit,
)
