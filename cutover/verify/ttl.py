"""TTL lint: a `ttl.cutover` above what a zone serves today is kept low, and said so.

A stage that lowers TTLs never raises one (see Want.lower_only): raising a 2 s TTL to 3600 s
ahead of the switch would make resolvers hold the old MX for an hour after it. The user still
asked for that number, so lint says which records keep their lower live TTL.
"""

from __future__ import annotations

from ..records import relative
from ..stage import Stage
from .findings import Finding


def ttl_findings(env, stage: Stage, plans) -> list[Finding]:
    if not stage.lower_only:
        return []
    wanted = stage.ttl(env.ttl_cutover, env.ttl_final)
    out = []
    for plan in plans:
        lower = sorted(
            (r for r in plan.result.values() if r.ttl < wanted), key=lambda r: (r.ttl, r.key)
        )
        if not lower:
            continue
        first = lower[0]
        out.append(
            Finding(
                "TTL_CUTOVER_ABOVE_LIVE",
                "warning",
                plan.zone.rstrip("."),
                f"{relative(first.name, plan.zone)} {first.type}",
                f"ttl.{stage.ttl_source} {wanted} is above the live TTL of {len(lower)} "
                f"RRset(s) (lowest {first.ttl} s); they keep their live TTL, never raised",
                f"lower ttl.{stage.ttl_source} to {first.ttl} or less to silence this",
            )
        )
    return out
