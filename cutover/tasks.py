"""The Invoke collection: parse flags, call cutover.*, print, set the exit code. No logic here.

Heavy modules are imported inside the tasks so that `invoke --list` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import sys

from invoke import Collection, Exit, task

ENV_HELP = {"env": "environment name (environments/NAME.yaml); default $CUTOVER_ENV"}


def _say(line: str) -> None:
    """One line on stderr; a terminal that went away (SIGHUP, a closed pipe) is not an error."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def _guard(fn=None, *, writes: bool = False):
    """Turn our errors into one line on stderr and the documented exit code. `writes`: the task
    changes DNS or state, so Invoke's `--dry` (echo instead of run) must refuse it, not run it."""
    if fn is None:
        return functools.partial(_guard, writes=writes)

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        from .errors import CutoverError
        from .signals import Interrupted

        if writes and c.config.run.dry:
            _say(f"error: --dry cannot preview `{fn.__name__}`: it would change DNS or state; "
                 f"use `invoke plan` to see what it would do")  # fmt: skip
            raise Exit(code=2)
        try:
            return fn(c, *args, **kwargs)
        except CutoverError as exc:
            _say(f"error: {exc.line()}")
            raise Exit(code=exc.exit_code) from None
        except Interrupted as exc:
            told = (
                getattr(exc, "message", None) or f"interrupted by {exc.name}; nothing was applied"
            )
            _say(f"error: {told}; the lock is released, see `invoke status`")
            raise Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            _say("error: interrupted; the lock is released, see `invoke status`")
            raise Exit(code=130) from None

    return wrapper


def _env(env):
    from .config import load_environment

    return load_environment(env)


@task(help={**ENV_HELP, "stage": "prepare | cutover | finalize", "json": "print JSON"})
@_guard
def render(c, env=None, stage=None, json=False):
    """Print the records each stage wants for each domain."""
    from . import report, views

    doc = views.render_doc(_env(env), stage)
    if json:
        report.print_json(doc)
    else:
        report.print_render(doc)


@task(help={**ENV_HELP, "stage": "default: the next stage per the journal", "json": "print JSON"})
@_guard
def plan(c, env=None, stage=None, json=False):
    """Show what a stage would change, and the lint findings, without changing anything."""
    from . import report, stages

    stage, plans, findings = stages.preview(_env(env), stage)
    if json:
        report.print_json(
            {
                "stage": stage,
                "plans": [p.to_dict() for p in plans],
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        report.ConsoleUI().show_plans(plans, findings)


@task(
    help={
        **ENV_HELP,
        "stage": "default: the next stage per the journal",
        "json": "print one JSON document (schema: docs/lint.md)",
        "strict": "warnings fail too",
    }
)
@_guard
def lint(c, env=None, stage=None, json=False, strict=False):
    """Check SPF, DMARC, DKIM, MX and MTA-STS as a stage would leave them; changes nothing."""
    from . import report, stages
    from .verify.policy import blocking

    stage, plans, findings = stages.preview(_env(env), stage)
    failing = blocking(findings, strict)
    if json:
        report.print_json(report.lint_doc(stage, findings, strict, failing))
    else:
        report.print_findings(stage, findings)
    if failing:
        print(f"error: lint: {len(failing)} finding(s) block {stage}; first: "
              f"{failing[0].line()}", file=sys.stderr)  # fmt: skip
        raise Exit(code=1)


def _stage_task(name: str, doc: str):
    @task(
        name=name,
        help={
            **ENV_HELP,
            "yes": "apply without asking",
            "force": "override a closed gate",
            "wait": "wait for a time gate to open",
            "json": "print the outcome as JSON",
            "strict": "lint warnings block the apply too",
        },
    )
    @_guard(writes=True)
    def run(c, env=None, yes=False, force=False, wait=False, json=False, strict=False):
        from . import report, stages

        ui = report.ConsoleUI(as_json=json)
        outcome = stages.run_stage(
            _env(env), name, ui, yes=yes, force=force, wait=wait, strict=strict
        )
        if json:
            report.print_json(report.outcome_doc(outcome))
        else:
            ui.info(outcome.message)

    run.__doc__ = doc
    run.__name__ = name
    return run


prepare = _stage_task("prepare", "Lower TTLs, publish the new provider's records, SPF union.")
cutover = _stage_task("cutover", "Switch MX in one change, and the client records.")
finalize = _stage_task("finalize", "Drop the old provider's records, raise TTLs, set DMARC.")


@task(
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
    """Undo the latest stage (only where DNS still holds what it wrote), or restore a snapshot."""
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
        _say(f"error: rollback left {len(outcome.conflicts)} RRset(s) that someone changed "
             f"since the run; review them, then `invoke rollback --env {settings.name} --force` "
             "to overwrite them")  # fmt: skip
        raise Exit(code=1)


@task(
    help={
        **ENV_HELP,
        "stage": "compare with this stage (default: the one in place, else the next)",
        "wait": "re-check until every server serves it or validation.timeout expires",
        "json": "print one JSON document",
        "junit": "write JUnit XML to this path",
    }
)
@_guard
def validate(c, env=None, stage=None, wait=False, json=False, junit=None):
    """Check that every authoritative server (and the resolvers) serve what the repo says."""
    from . import report, validation

    ui = report.ConsoleUI(as_json=json)
    result = validation.validate(_env(env), stage, wait=wait, progress=ui.converging)
    if junit:
        from .junit import write_junit

        write_junit(result, junit)
    if json:
        report.print_json(result.to_dict())
    else:
        report.print_validation(result)
    if result.exit_code:
        print(f"error: {result.error_line()}", file=sys.stderr)
        raise Exit(code=result.exit_code)


@task(help={**ENV_HELP, "json": "print JSON"})
@_guard
def snapshots(c, env=None, json=False):
    """List the snapshots of an environment, oldest first."""
    from . import report, views

    doc = views.snapshots_doc(_env(env))
    if json:
        report.print_json(doc)
    else:
        report.print_snapshots(doc)


@task(help={**ENV_HELP, "port": "UDP and TCP port on 127.0.0.1 (default 5300)"})
@_guard
def serve(c, env=None, port=5300):
    """Run the embedded authoritative server for a zone-file environment in the foreground."""
    from . import views

    views.serve(_env(env), int(port))


@task(help={**ENV_HELP, "json": "print JSON"})
@_guard
def status(c, env=None, json=False):
    """Show the current stage, what each domain serves, the cutover gate, the last snapshot."""
    from . import report, views

    doc = views.status_doc(_env(env))
    if json:
        report.print_json(doc)
    else:
        report.print_status(doc)


@task(
    help={
        **ENV_HELP,
        "yes": "remove the lock without asking",
        "force": "remove it even when its holder is still running",
    }
)
@_guard(writes=True)
def unlock(c, env=None, yes=False, force=False):
    """Remove a stale lock left by a run that died (confirms first, naming the holder)."""
    from . import report, views
    from .write_settings import load_for_rollback

    ui = report.ConsoleUI()
    views.unlock(load_for_rollback(env, warn=ui.warn), ui, yes=yes, force=force)


@task(help={"env": "only the profiles and senders this environment uses", "json": "print JSON"})
@_guard
def profiles(c, env=None, json=False):
    """List every mail provider profile and sender overlay with the inputs each declares."""
    from pathlib import Path

    from . import catalog, report

    only = catalog.used_by(_env(env)) if env else None
    doc = catalog.catalog_doc(Path.cwd(), only)
    if json:
        report.print_json(doc)
    else:
        print(catalog.catalog_text(doc), end="")


@task(
    help={
        **ENV_HELP,
        "format": "text | md | json | html (default text)",
        "output": "write the report to this file instead of stdout",
        "mta_sts_dir": "saved MTA-STS policies, <dir>/<domain>.txt (never fetched)",
    }
)
@_guard
def audit(c, env=None, format="text", output=None, mta_sts_dir=None):
    """Inventory each domain's mail DNS (authoritative servers) and the risks of cutting it over."""
    from .audit import report

    report.check_format(format)
    report.check_policy_dir(mta_sts_dir)
    doc = report.audit(_env(env), mta_sts_dir=mta_sts_dir)
    text = report.render(doc, format)
    if output:
        from pathlib import Path

        Path(output).write_text(text)
        print(f"audit: {doc['summary']['domains']} domain(s), {doc['summary']['risks_total']} "
              f"risk(s); written to {output}", file=sys.stderr)  # fmt: skip
    else:
        sys.stdout.write(text)
    if doc["summary"]["unanswered"]:
        print(f"error: audit: no authoritative server answered for "
              f"{doc['summary']['unanswered']} domain(s); check validation.nameservers",
              file=sys.stderr)  # fmt: skip
        raise Exit(code=3)


ns = Collection(
    render,
    plan,
    lint,
    prepare,
    cutover,
    finalize,
    rollback,
    validate,
    snapshots,
    serve,
    status,
    unlock,
    profiles,
    audit,
)
