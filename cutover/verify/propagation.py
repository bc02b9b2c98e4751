"""Is it served? Ask every authoritative server of every zone directly, and the chosen resolvers.

"Applied" is not "served": a provider can accept a change that one of its nameservers never
loads. So every expected RRset is asked of every address of every authoritative server with
RD=0, concurrently and bounded, and each (zone, server, RRset) gets its own finding. Resolvers are
asked too, but only to tell the user how long a stale cached answer will live (advisory unless
`require_resolvers`).

What is "expected" is a list of plan Wants per zone, so the same ownership rules apply as when
planning: in the shared apex TXT only our SPF and verification values are checked, and a Want
without values checks only the TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..plan import Plan, Want
from ..records import RRset, fqdn
from . import dnsquery

QUERY_TIMEOUT = 2.0
RETRIES = 1
CONCURRENCY = 256
OK = "OK"


@dataclass(frozen=True)
class Target:
    """One address to ask about one zone, and whether its answers must match."""

    zone: str
    server: str  # as configured or named by the provider
    address: str | None  # "ip:port" actually asked; None when the name did not resolve
    role: str  # "authoritative" or "resolver"
    required: bool


@dataclass
class Finding:
    """The verdict for one (zone, server, RRset)."""

    zone: str
    server: str
    address: str | None
    role: str
    name: str
    type: str
    status: str
    required: bool
    message: str = ""
    expected: dict[str, Any] | None = None
    got: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def line(self) -> str:
        return f"{self.status} {self.zone} {self.name} {self.type} @ {self.server}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Report:
    env: str
    stage: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    rounds: int = 0
    policy: list[Any] = field(default_factory=list)  # lint findings on what is served
    #: the lint lookups of the run: asked ahead (concurrently), in how many waves, asked late
    lookups: dict[str, int] = field(default_factory=dict)
    #: `validate --probe`: the SMTP probe of the served MX (cutover/probe/findings.ProbeReport)
    probe: Any = None

    @property
    def policy_errors(self) -> list[Any]:
        return [f for f in self.policy if f.severity == "error"]

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.required and not f.ok]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.required and not f.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def unreachable(self) -> bool:
        """Required servers were asked and not one of them answered anything."""
        asked = [f for f in self.findings if f.required]
        return bool(asked) and all(
            f.status in (dnsquery.TIMEOUT, dnsquery.UNREACHABLE) for f in asked
        )

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return 3 if self.unreachable else 1
        if self.policy_errors:
            return 1
        return self.probe.exit_code if self.probe is not None else 0

    def error_line(self) -> str:
        """The one line a failing validate ends with: what failed first, and what to do."""
        if self.exit_code == 0:
            return ""
        if self.ok and not self.policy_errors:  # only the SMTP probe failed
            return self.probe.error_line()
        if self.exit_code == 3:
            what = "no authoritative server answered"
        elif self.failures:
            what = f"{len(self.failures)} check(s) failed"
        else:
            what = f"{len(self.policy_errors)} policy error(s) in what is served"
        first = (self.failures or self.policy_errors)[0].line()
        return f"{what}; first: {first}; fix DNS, or wait for it with --wait"

    def pairs(self) -> tuple[int, int]:
        """(converged, total) (zone, server) pairs: a pair converges when all its checks pass."""
        state: dict[tuple[str, str], bool] = {}
        for f in self.findings:
            if f.required:
                key = (f.zone, f.server)
                state[key] = state.get(key, True) and f.ok
        return sum(state.values()), len(state)

    def to_dict(self) -> dict[str, Any]:
        converged, total = self.pairs()
        return {
            "env": self.env,
            "stage": self.stage,
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "summary": {
                "checks": len(self.findings),
                "failed": len(self.failures),
                "warnings": len(self.warnings),
                "policy_errors": len(self.policy_errors),
                "servers_converged": converged,
                "servers": total,
                "elapsed_s": round(self.elapsed, 3),
                "rounds": self.rounds,
            },
            "notes": self.notes,
            "findings": [f.to_dict() for f in self.findings],
            "policy": [f.to_dict() for f in self.policy],
            **({"probe": self.probe.to_dict()} if self.probe is not None else {}),
        }


# ---------------------------------------------------------------- what is expected


def expected_for_stage(env, stage: str, renders: dict | None = None) -> dict[str, list[Want]]:
    """What the repository says each zone serves once `stage` is in place. `renders` (zone ->
    DomainRender) reuses renders already made, e.g. by validate, which lints them too."""
    from ..render import render_domain, wants

    if renders is None:
        renders = {fqdn(d.name): render_domain(env, d) for d in env.domains}
    return {fqdn(d.name): wants(env, renders[fqdn(d.name)], stage) for d in env.domains}


def expected_for_plans(plans: list[Plan]) -> dict[str, list[Want]]:
    """Exactly what the plans wrote (every value and TTL), or the absence of what they deleted."""
    out: dict[str, list[Want]] = {}
    for plan in plans:
        for c in plan.changes:
            name, rtype = c.key
            after = c.after
            want = Want(name, rtype, after.ttl if after else 0, after.values if after else ())
            out.setdefault(plan.zone, []).append(want)
    return out


def expected_rrset(want: Want, got: RRset | None) -> RRset | None:
    """What a server should serve given what it serves: a TTL-only Want keeps the values."""
    if want.values is None and got is not None:
        return got.with_ttl(want.ttl_over(got))  # a stage that never raises a TTL
    return want.merge(got)


def judge(want: Want, got: RRset | None, role: str) -> tuple[str, str]:
    """(status, message) for one served RRset against what is wanted."""
    expected = expected_rrset(want, got)
    what = f"{want.type}"
    if role == "resolver":  # a cached TTL counts down: compare values only
        if (expected is None and got is None) or (expected and expected.same_values(got)):
            return OK, "serves the expected values"
        return "STALE", "serves old values"
    if expected == got:
        return OK, "serves the expected values and TTL"
    if expected is None:
        return "UNEXPECTED", f"still serves {what} {' | '.join(got.texts())}"  # type: ignore[union-attr]
    if got is None:
        return "MISSING", f"serves no {what}; expected {' | '.join(expected.texts())}"
    if expected.same_values(got):
        return "TTL_MISMATCH", f"TTL {got.ttl}, expected {expected.ttl}"
    return (
        "VALUE_MISMATCH",
        f"serves {' | '.join(got.texts())}; expected {' | '.join(expected.texts())}",
    )


# ---------------------------------------------------------------- which servers


def embedded_address(provider, where: str) -> str:
    """`embedded` in a resolver list names the provider's own server (`local_resolver`: the
    zone-file provider's embedded server)."""
    address = provider.local_resolver()
    if address is None:
        raise ConfigError(f"{where}: `embedded` needs the zonefile provider")
    return address


def _server_names(env, provider, zone: str) -> list[str]:
    ns = env.validation.nameservers
    if ns == "none":
        return []
    if ns == "auto":
        return list(provider.nameservers(zone))
    return list(ns)


async def _targets(env, provider, zones: list[str], resolvers: bool) -> list[Target]:
    names = {z: _server_names(env, provider, z) for z in zones}
    for zone in zones:
        if env.validation.nameservers == "auto" and not names[zone]:
            names[zone] = [f"{n}:53" for n in await dnsquery.zone_nameservers(zone)]
    wanted = {s for servers in names.values() for s in servers}
    wanted_list = sorted(wanted)
    addresses = await asyncio.gather(*(dnsquery.addresses_of(s) for s in wanted_list))
    found = dict(zip(wanted_list, addresses, strict=True))
    out = []
    for zone in zones:
        for server in names[zone]:
            for addr in found[server] or [None]:
                out.append(Target(zone, server, addr, "authoritative", True))
        if resolvers:
            for res in env.validation.resolvers:
                addr = (
                    embedded_address(provider, "validation.resolvers") if res == "embedded" else res
                )
                out.append(Target(zone, res, addr, "resolver", env.validation.require_resolvers))
    return out


# ---------------------------------------------------------------- asking


async def _check_one(target: Target, want: Want, sem: asyncio.Semaphore) -> Finding:
    expected = None if want.values is None else {"ttl": want.ttl, "values": list(want.values)}
    base = dict(
        zone=target.zone,
        server=target.server,
        address=target.address,
        role=target.role,
        name=want.name,
        type=want.type,
        required=target.required,
        expected=expected,
    )
    if target.address is None:
        return Finding(status=dnsquery.UNREACHABLE, message="the name does not resolve", **base)
    async with sem:
        answer = await dnsquery.ask(
            target.address,
            want.name,
            want.type,
            recursive=target.role == "resolver",
            timeout=QUERY_TIMEOUT,
            retries=RETRIES,
        )
    if answer.problem:
        return Finding(status=answer.problem, message=answer.detail, **base)
    got = answer.rrset
    exp = expected_rrset(want, got)
    base["expected"] = {"ttl": exp.ttl, "values": list(exp.values)} if exp else {"ttl": None, "values": []}  # fmt: skip
    status, message = judge(want, got, target.role)
    if status == "STALE":
        left = got.ttl if got else answer.negative_ttl
        what = f"the old {want.type}" if got else f"no {want.type} (a cached absence)"
        message = f"{target.server} serves {what} for {left} s more"
    return Finding(status=status, message=message, got=got.to_dict() if got else None, **base)


def explain_stale(findings: list[Finding]) -> None:
    """A resolver serving the old values that an authoritative server still serves will keep
    refreshing them from it: say so, instead of a countdown that renews (issue 14)."""
    lagging: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        if f.role == "authoritative" and not f.ok and f.got is not None:
            lagging.setdefault((f.zone, f.name, f.type), []).append(f)
    for f in findings:
        if f.role != "resolver" or f.status != "STALE" or f.got is None:
            continue
        got = RRset.from_dict(f.got)
        stale = [a.server for a in lagging.get((f.zone, f.name, f.type), [])
                 if RRset.from_dict(a.got).same_values(got)]  # fmt: skip
        if stale:
            f.message = (f"{f.server} serves the old {f.type} and will keep refreshing it: its "
                         f"upstream is stale ({', '.join(stale)} still serves these values)")  # fmt: skip


async def _run(
    env,
    provider,
    expected: dict[str, list[Want]],
    report: Report,
    *,
    resolvers: bool,
    wait: bool,
    timeout: float,
    progress: Callable[[Report, bool], None] | None,
) -> None:
    targets = await _targets(env, provider, sorted(expected), resolvers)
    if not any(t.role == "authoritative" for t in targets):
        report.notes.append(
            "no authoritative server was asked (validation.nameservers: none): "
            "only the provider's own change status vouches for what is served"
        )
    sem = asyncio.Semaphore(CONCURRENCY)
    jobs = [(t, w) for t in targets for w in expected[t.zone]]
    results: dict[int, Finding] = {}
    deadline = time.monotonic() + timeout
    pause = 0.25
    while True:
        todo = [i for i in range(len(jobs)) if i not in results or not results[i].ok]
        found = await asyncio.gather(*(_check_one(*jobs[i], sem) for i in todo))
        results.update(zip(todo, found, strict=True))
        report.findings = [results[i] for i in range(len(jobs))]
        explain_stale(report.findings)
        report.rounds += 1
        final = report.ok or not wait or time.monotonic() + pause > deadline
        if progress:
            progress(report, final)
        if final:
            return
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 5.0)


def check(
    env,
    provider,
    expected: dict[str, list[Want]],
    stage: str,
    *,
    resolvers: bool = True,
    wait: bool = False,
    timeout: float | None = None,
    progress: Callable[[Report, bool], None] | None = None,
    alongside: Callable[[], Awaitable[Any]] | None = None,
) -> Report:
    """Ask every server about every expected RRset; with `wait`, re-ask until all pass or time out.

    `alongside`: more queries to send in the same event loop at the same time (validate's lint
    lookups), so that both share the round trips instead of waiting one after the other."""
    report = Report(env=env.name, stage=stage)
    started = time.monotonic()

    async def both() -> None:
        run = _run(
            env,
            provider,
            expected,
            report,
            resolvers=resolvers,
            wait=wait,
            timeout=env.validation.timeout if timeout is None else timeout,
            progress=progress,
        )
        if alongside is None:
            await run
        else:
            await asyncio.gather(run, alongside())

    asyncio.run(both())
    report.elapsed = time.monotonic() - started
    return report


def wait_served(env, provider, plans: list[Plan], stage: str, ui) -> str:
    """After apply: wait until every authoritative server serves what the plans wrote.

    Returns how the change was verified ("authoritative", or "provider" when
    `validation.nameservers: none` leaves only the provider's word), for the journal.
    """
    from ..errors import ChecksFailed, ProviderError

    report = check(
        env,
        provider,
        expected_for_plans(plans),
        stage,
        resolvers=False,
        wait=True,
        progress=getattr(ui, "converging", None),
    )
    if report.ok:
        return "authoritative" if report.findings else "provider"
    first = report.failures[0]
    hint = f"check the servers, then `invoke validate --env {env.name} --stage {stage} --wait`"
    if report.unreachable:
        raise ProviderError(
            f"{stage}: no authoritative server answered; first: {first.line()}", hint
        )
    raise ChecksFailed(
        f"{stage}: applied, but {len(report.failures)} check(s) not served after "
        f"{env.validation.timeout}s; first: {first.line()}",
        hint,
    )
