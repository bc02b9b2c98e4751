"""Wildcards (RFC 4592) and the records a stage adds beneath them.

A server answers a name that does not exist from the `*` record of its closest encloser. A
stage that writes `selector1._domainkey` where `_domainkey` does not exist makes `_domainkey`
exist (an empty non-terminal, RFC 4592 §2.2.2), and from then on the wildcard no longer answers
for any other name under it: a DKIM selector, say, that some sender relied on through the
wildcard. Lint cannot list those names (DNS cannot), but it can tell that a wildcard answers
under the new non-terminal today: a random name there gets an answer, and the non-terminal
itself gets the very same answer (it exists only through the wildcard too).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from ..records import RRset, relative
from .findings import Finding

PROBE = "mailcutover-probe-"
#: one random label per run, so the questions can be asked ahead, with every other lint lookup
LABEL = PROBE + secrets.token_hex(4)


def _ancestors(name: str, zone: str) -> list[str]:
    out = []
    while name != zone and name.endswith("." + zone):
        name = name.split(".", 1)[1]
        if name != zone:
            out.append(name)
    return out


def _writes(zone: str, rrsets: Mapping[tuple[str, str], RRset]) -> dict[str, list[str]]:
    """Each ancestor of a written name (below the apex) -> the names written under it."""
    writes: dict[str, list[str]] = {}
    for (name, _rtype), rr in sorted(rrsets.items()):
        if rr.values and not name.startswith("*."):
            for a in _ancestors(name, zone):
                writes.setdefault(a, []).append(name)
    return writes


def wildcard_questions(zone: str, rrsets: Mapping[tuple[str, str], RRset]) -> list[tuple[str, str]]:
    """What check_wildcard_shadow will ask first, for the lint's prefetch: the probe's TXT (a
    CNAME there shows in that answer). Only where it answers does the lint's prefetch ask the
    non-terminal itself, in its next wave; most zones have no wildcard there."""
    return [(f"{LABEL}.{ent}", "TXT") for ent in _writes(zone, rrsets)]


def check_wildcard_shadow(
    domain: str, zone: str, rrsets: Mapping[tuple[str, str], RRset], lookup
) -> list[Finding]:
    """WILDCARD_SHADOWED for each name the zone will hold under an ancestor that exists today
    only through a wildcard (or not at all) while a wildcard answers beneath it."""
    out = []
    for ent, names in sorted(_writes(zone, rrsets).items()):
        probe = f"{LABEL}.{ent}"
        probed = {t: lookup.values(probe, t) for t in ("TXT", "CNAME")}
        if not any(probed.values()):
            continue  # no wildcard answers under `ent` today
        if any(lookup.values(ent, t) != p for t, p in probed.items()):
            continue  # `ent` itself is a name (it answers differently)
        made = ", ".join(relative(n, zone) for n in sorted(set(names)))
        rel = relative(ent, zone)
        out.append(
            Finding("WILDCARD_SHADOWED", "warning", domain, f"{rel} (empty non-terminal)",
                    f"{made} makes {rel} exist: the wildcard that answers for every other name "
                    f"under {rel} today (asked {probe}) stops answering there (RFC 4592 §2.2.2)",
                    f"if anything relies on names under {rel} through the wildcard, publish "
                    "them as explicit records first (`invoke audit` lists the probed ones)")
        )  # fmt: skip
        # the ancestors above `ent` are created too; one finding per new non-terminal chain
    return out
