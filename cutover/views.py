"""Read-only documents for the tasks that only show things: render, snapshots, serve, status."""

from __future__ import annotations

import contextlib
from typing import Any

from .config import Environment
from .errors import UsageError
from .plan import is_spf
from .records import fqdn, relative
from .render import STAGES, render_domain, wants
from .stage import ORDER


def render_doc(env: Environment, stage: str | None) -> dict[str, Any]:
    """What each stage wants per domain; a Want with no values keeps what is served."""
    stages = [stage] if stage else list(STAGES)
    for s in stages:
        if s not in STAGES:
            raise UsageError(f"unknown stage {s!r} (stages: {', '.join(STAGES)})")
    doc: dict[str, Any] = {"env": env.name, "stages": {}}
    renders = [render_domain(env, d) for d in env.domains]
    for s in stages:
        per_domain = {}
        for r in renders:
            zone = fqdn(r.domain.name)
            per_domain[r.domain.name] = [
                {
                    "name": relative(fqdn(w.name), zone),
                    "type": w.type,
                    "ttl": w.ttl,
                    "values": None if w.values is None else list(w.values),
                    "shared": w.partial,
                }
                for w in wants(env, r, s)
            ]
        doc["stages"][s] = per_domain
    return doc


def snapshots_doc(env: Environment) -> dict[str, Any]:
    from .state import get_state

    rows = []
    for doc in get_state(env).list_snapshots():
        rows.append(
            {
                "id": doc.get("id"),
                "stage": doc.get("stage"),
                "created": doc.get("created"),
                "zones": sorted(doc.get("zones", {})),
                "rrsets": sum(len(z["rrsets"]) for z in doc.get("zones", {}).values()),
                "valid": doc.get("valid", False),
            }
        )
    return {"env": env.name, "snapshots": rows}


def serve(env: Environment, port: int, smtp_port: int = 0) -> None:
    """The embedded DNS server in the foreground, and the SMTP stand-in for `probe.hosts`
    entries that say `embedded` (on `smtp_port`, 0: a free one); both stop on Ctrl-C."""
    if env.provider.type != "zonefile":
        raise UsageError(f"serve needs a zonefile environment; {env.name} uses {env.provider.type}")
    from .dnsserver import DNSServer
    from .providers import get_provider

    provider = get_provider(env)
    folders = [provider.directory] + ([provider.standins] if provider.standins else [])
    try:
        server = DNSServer(folders, port=port)
    except OSError as exc:
        raise UsageError(
            f"serve: cannot listen on 127.0.0.1:{port}: {exc.strerror}",
            "pick another --port (one not in use; below 1024 needs root)",
        ) from None
    zones = ", ".join(sorted(p.stem for f in folders for p in f.glob("*.zone")))
    with contextlib.ExitStack() as stack:
        names = env.probe.embedded_hosts()
        if names:  # the demo's SMTP stand-in, so swaks/smtplib can try what `probe` asks
            from .probe.standin import StandIn

            try:
                standin = stack.enter_context(
                    StandIn([d.name for d in env.domains], names, port=smtp_port)
                )
            except OSError as exc:
                raise UsageError(
                    f"serve: cannot listen for SMTP on 127.0.0.1:{smtp_port}: {exc.strerror}",
                    "pick another --smtp-port (or 0 for a free one)",
                ) from None
        print(
            f"serving {zones} on 127.0.0.1:{server.port} (UDP and TCP); Ctrl-C to stop", flush=True
        )
        if names:
            print(
                f"SMTP stand-in for {', '.join(names)} on {standin.address} (takes RCPT for "
                f"{', '.join(d.name for d in env.domains)} only, refuses DATA; STARTTLS with a "
                "throwaway certificate)",
                flush=True,
            )
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def status_doc(env: Environment) -> dict[str, Any]:
    """Where the environment stands: stage, what each domain serves, the gate, the last snapshot."""
    from . import journal
    from .providers import get_provider
    from .state import get_state
    from .state.base import iso, utcnow

    state = get_state(env)
    entries = state.read_journal()
    units = journal.stack(entries)
    opens = journal.gate_opens(units)
    current = journal.current_stage(units)
    top = units[-1] if units else None
    doc: dict[str, Any] = {
        "env": env.name,
        "current_stage": current,
        "next_stage": journal.next_stage(units),
        "incomplete_stage": top.stage if top and top.open else None,
        "open_run": None,
        "journal_problems": list(getattr(state, "journal_problems", [])),
        "stack": [
            {
                "stage": u.stage,
                "complete": u.complete,
                "state": u.last.state,
                "applied_at": u.applied_at,
                "snapshots": u.snapshots,
                "forced": u.forced,
                "applied_zones": [z for r in u.runs for z in r.applied],
                "unknown_zones": u.last.unknown(),
            }
            for u in units
        ],
        "cutover_gate": None,
        "latest_snapshot": None,
        "lock": state.read_lock(),
        "domains": {},
        "verification": "provider change status only (validation.nameservers: none)"
        if env.validation.nameservers == "none"
        else "authoritative servers",
    }
    if top is not None and top.open:
        doc["open_run"] = {
            "stage": top.stage,
            "run": top.last.id,
            "state": top.last.state,
            "applied_zones": list(top.last.applied),
            "unknown_zones": top.last.unknown(),
            "stopped_in": _stopped_in(top.last),
            "message": journal.describe_open(top, env.name),
        }
    if opens is not None and any(s.waits_t_old and s.requires == current for s in ORDER):
        left = journal.seconds_left(opens, utcnow())  # never says open early
        doc["cutover_gate"] = {"opens_at": iso(opens), "seconds_left": left, "open": left == 0}
    snaps = [s for s in state.list_snapshots() if s.get("valid")]
    if snaps:
        doc["latest_snapshot"] = {
            "id": snaps[-1]["id"],
            "stage": snaps[-1].get("stage"),
            "created": snaps[-1].get("created"),
        }
    doc["probe"] = _journaled_probe(units)
    files = {}
    if env.mta_sts is not None:
        from .mtasts.announced import published

        files = {p.domain: p for p in published(env, [d.name for d in env.domains])}
    doc["mta_sts"] = {}
    provider = get_provider(env)
    try:
        for d in env.domains:
            zone = fqdn(d.name)
            sts = fqdn("_mta-sts", zone)
            live = provider.read(zone, [zone, sts] if d.name in files else [zone])
            apex = [r for r in live if fqdn(r.name) == zone]
            mx = [t for r in apex if r.type == "MX" for t in r.texts()]
            spf = [t for r in apex if r.type == "TXT" for t in r.texts() if is_spf(t)]
            doc["domains"][d.name] = {"mx": mx, "spf": spf}
            if d.name in files:
                doc["mta_sts"][d.name] = _mta_sts_row(files[d.name], live, sts)
    finally:
        provider.close()
    return doc


def _journaled_probe(units: list) -> dict[str, Any] | None:
    """The SMTP probe of the new MX the last run in the stack journaled (`began.probe`): what
    the new MX answered when the switch was made."""
    for unit in reversed(units):
        for run in reversed(unit.runs):
            if run.began.probe is not None:
                return {"stage": unit.stage, "run": run.id, "time": run.began.time,
                        **run.began.probe}  # fmt: skip
    return None


def _mta_sts_row(item, live: list, name: str) -> dict[str, Any]:
    """The published policy (mode, mx, max_age) and whether the `_mta-sts` id the provider
    holds is that file's (`id_matches` None: the domain's original policy and its own id)."""
    from .mtasts.announced import txt_id

    served = txt_id([v for r in live if r.key == (name, "TXT") for v in r.values])
    matches = item.matches(served)
    drift = item.why(served) if matches is False else None
    return {**item.to_dict(), "served_id": served, "id_matches": matches, "drift": drift}


def unlock(env: Environment, ui, yes: bool = False, force: bool = False) -> None:
    """Remove the environment's lock after confirming, naming its holder. A corrupt (empty,
    unreadable) lock is described and removable; a lock whose holder is on this host and dead
    is called stale; a live holder on this host is refused (LockHeld, exit 4) unless `force`."""
    from .errors import LockHeld
    from .state import get_state
    from .state.base import describe_holder, lock_liveness

    state = get_state(env)
    holder = state.read_lock()
    if holder is None:
        ui.info(f"{env.name}: not locked")
        return
    where = state.lock_location
    if holder.get("corrupt"):
        what = f"empty/unreadable lock file {where} ({holder.get('detail', '?')})"
        question = f"Remove the {what}, left by a run that died while taking it?"
        done = f"{env.name}: {what} removed"
    else:
        desc = describe_holder(holder)
        pid, host = holder.get("pid", "?"), holder.get("host", "?")
        live = lock_liveness(holder)
        if live == "alive" and not force:
            raise LockHeld(
                f"{env.name}: the lock {where} is held by a live run (pid {pid} on {host})",
                "stop it first, or --force",
            )
        if live == "dead":
            question = (
                f"Remove the stale lock held by {desc}? (pid {pid} is not running on this host)"
            )
            done = f"{env.name}: stale lock held by {desc} removed"
        elif live == "alive":
            question = f"Remove the lock held by {desc}? That run is STILL RUNNING (--force)"
            done = f"{env.name}: lock held by {desc}, a run still running, removed (--force)"
        else:
            question = f"Remove the lock held by {desc}?"
            done = f"{env.name}: lock held by {desc} removed"
    if not yes and not ui.confirm(question):
        raise UsageError("unlock not confirmed; the lock stays")
    if state.read_lock() != holder:
        raise LockHeld(
            f"{env.name}: the lock {where} changed while unlock was asking; it stays",
            f"run `invoke unlock --env {env.name}` again to see who holds it now",
        )
    state.break_lock()
    ui.info(done)


def _stopped_in(run: Any) -> dict | None:
    """The last `zone_step` of a zone the run began writing and never finished, if any."""
    step = run.stopped_in()
    return None if step is None else {"zone": step.zone, "step": step.step, "note": step.note}
