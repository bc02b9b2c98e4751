"""Probe every MX host of every domain: from the render (before the switch) or as served.

Hosts are probed concurrently (a thread per host, bounded); each host's addresses (A and AAAA)
one after another. An address family this machine has no route for is noted, not failed: a host
passes when the addresses that answered accept.
"""

from __future__ import annotations

import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from ..addresses import parse_address
from ..config import Environment
from ..records import fqdn
from ..rrtypes import mx_fields
from ..stage import get_stage
from .findings import Host, ProbeReport
from .smtp import probe_address, tls_context

MAX_WORKERS = 16


def mx_hosts(values: list[str] | tuple[str, ...]) -> list[tuple[int, str]]:
    """("10 mx.example.", ...) -> [(10, "mx.example")], lowest preference first."""
    out = []
    for value in values:
        pref, host = mx_fields(str(value))
        out.append((pref, host.rstrip(".").lower()))
    return sorted(out)


def rendered_targets(env: Environment, stage: str) -> dict[str, list[tuple[int, str]]]:
    """Per domain, the MX that `stage` leaves in place, from the profiles: the new provider's
    from the stage that switches MX on, the old provider's before it. No DNS is read."""
    from ..render import render_domain

    st = get_stage(stage, allow_none=True)
    out = {}
    for domain in env.domains:
        dr = render_domain(env, domain)
        out[domain.name] = mx_hosts(dr.new.mx if st.switches_mx else dr.old.mx)
    return out


def resolve(host: str, port: int) -> list[tuple[str, str]]:
    """(address, family) of every A and AAAA of the host, in the system resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    seen: list[tuple[str, str]] = []
    for fam, _t, _p, _c, sockaddr in infos:
        item = (sockaddr[0], "ipv6" if fam == socket.AF_INET6 else "ipv4")
        if item not in seen:
            seen.append(item)
    return seen


def _probe_host(env: Environment, host: Host, context, standin) -> Host:
    probe = env.probe
    if host.host in probe.hosts:
        targets = []
        for pinned in probe.hosts[host.host]:
            if pinned == "embedded":
                pinned = standin.address
                context = ssl.create_default_context(cadata=standin.ca_pem.decode())
            addr, port = parse_address(pinned)
            targets.append((addr, "ipv6" if ":" in addr else "ipv4", port))
    else:
        targets = [(a, fam, probe.port) for a, fam in resolve(host.host, probe.port)]
        if not targets:
            host.note = f"{host.host} has no A or AAAA address (system resolver)"
    for address, family, port in targets:
        host.addresses.append(
            probe_address(
                host.host,
                address,
                family,
                port,
                host.recipients,
                sender=probe.sender,
                timeout=probe.timeout,
                context=context,
            )
        )
    skipped = [a for a in host.addresses if a.family_unreachable]
    if skipped and any(a.answered for a in host.addresses):
        host.note = (
            f"no route for {', '.join(sorted({a.family for a in skipped}))} here: not counted"
        )
    return host


def run_probe(
    env: Environment, targets: dict[str, list[tuple[int, str]]], stage: str, source: str
) -> ProbeReport:
    """Probe `targets` (domain -> [(preference, host)]); the demo's stand-in runs meanwhile."""
    started = time.monotonic()
    report = ProbeReport(env=env.name, stage=stage, source=source)
    via = env.probe.hosts
    for domain, hosts in targets.items():
        if any(not name for _pref, name in hosts):  # RFC 7505 null MX: "0 ."
            report.notes.append(f"{domain}: null MX, the domain takes no mail; nothing to probe")
        elif not hosts:
            report.notes.append(f"{domain}: no MX to probe")
        for pref, name in hosts:
            if not name:
                continue
            report.hosts.append(
                Host(
                    domain=domain,
                    host=name,
                    preference=pref,
                    via="probe.hosts" if name in via else "dns",
                    recipients=env.probe.recipients_for(domain),
                )
            )
    context = tls_context(str(env.probe.ca_file) if env.probe.ca_file else None)
    with ExitStack() as stack:
        standin = None
        names = env.probe.embedded_hosts()
        if names:
            from .standin import StandIn

            standin = stack.enter_context(StandIn([d.name for d in env.domains], names))
        workers = max(1, min(MAX_WORKERS, len(report.hosts)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda h: _probe_host(env, h, context, standin), report.hosts))
    report.elapsed = time.monotonic() - started
    return report


def probe_stage(env: Environment, stage: str | None) -> ProbeReport:
    """`invoke probe`: the MX a stage points at (default: cutover's, the new provider's)."""
    name = get_stage(stage or "cutover", allow_none=True).name
    return run_probe(env, rendered_targets(env, name), name, "render")


def probe_served(env: Environment, served: dict[str, dict], stage: str) -> ProbeReport:
    """`validate --probe`: the MX the authoritative servers serve now (zone -> RRsets)."""
    targets = {}
    for domain in env.domains:
        rrset = served.get(fqdn(domain.name), {}).get((fqdn(domain.name), "MX"))
        targets[domain.name] = mx_hosts(rrset.values) if rrset is not None else []
    return run_probe(env, targets, stage, "live")
