"""Read-only documents for the tasks that only show things: render, snapshots, serve."""

from __future__ import annotations

import contextlib
from typing import Any

from .config import Environment
from .errors import UsageError
from .records import fqdn, relative
from .render import STAGES, render_domain, wants


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


def serve(env: Environment, port: int) -> None:
    if env.provider.type != "zonefile":
        raise UsageError(f"serve needs a zonefile environment; {env.name} uses {env.provider.type}")
    from .dnsserver import DNSServer
    from .providers import get_provider

    provider = get_provider(env)
    folders = [provider.directory] + ([provider.standins] if provider.standins else [])
    server = DNSServer(folders, port=port)
    zones = ", ".join(sorted(p.stem for f in folders for p in f.glob("*.zone")))
    print(f"serving {zones} on 127.0.0.1:{server.port} (UDP and TCP); Ctrl-C to stop", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
