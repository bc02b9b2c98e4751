"""Email policy lint: what a stage would leave in each zone, checked before anything is applied.

The input is each plan's `result` (every managed RRset as the zone will hold it), so the checks
see the SPF union, the DKIM selectors and the MX set exactly as receivers will once the stage is
applied. The same checks run on what the servers serve (`lint_served`, used by validate).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..records import RRset, fqdn, relative, txt_join
from . import dkim
from .dmarc import check_dmarc, check_tls_policies
from .findings import CODES, Finding
from .lookup import Lookup, lint_addresses
from .mx import check_mx
from .spf import check_spf
from .wildcards import check_wildcard_shadow

__all__ = ["CODES", "Finding", "lint_plans", "lint_zone", "blocking"]


def blocking(findings: list[Finding], strict: bool = False) -> list[Finding]:
    """The findings that refuse an apply: errors, and with --strict warnings too."""
    return [f for f in findings if f.severity == "error" or (strict and f.severity == "warning")]


def lint_plans(env, stage: str, plans, provider) -> list[Finding]:
    from ..render import render_domain

    if not plans:
        return []
    lookup = Lookup(lint_addresses(env, provider))
    lookup.probe(plans[0].zone)
    renders = {fqdn(d.name): render_domain(env, d) for d in env.domains}
    out: list[Finding] = []
    for plan in plans:
        out += lint_zone(env, stage, renders[plan.zone], plan.result, lookup)
    return out


def required_spf(env, dr, stage: str) -> list[str]:
    """The mechanisms the stage's SPF must hold: the coexistence union until finalize."""
    senders = [m for s in dr.senders for m in s.spf]
    old = [] if getattr(stage, "drops_old", False) else dr.old.spf
    new = [] if getattr(stage, "before_migration", False) else dr.new.spf
    return [*old, *new, *senders, *env.migration.keep_spf]


def lint_zone(
    env, stage: str, dr, rrsets: Mapping[tuple[str, str], RRset], lookup: Lookup
) -> list[Finding]:
    zone = fqdn(dr.domain.name)
    domain = dr.domain.name
    out = check_spf(
        domain, rrsets.get((zone, "TXT")), required_spf(env, dr, stage), lookup, zone=zone
    )
    out += check_dmarc(
        domain, rrsets.get((fqdn("_dmarc", zone), "TXT")), lookup, zone=zone, stage=stage
    )
    out += check_mx(domain, rrsets.get((zone, "MX")), lookup, stage=stage, profile_mx=dr.new.mx)
    out += _dkim(dr, rrsets, lookup, zone, stage)
    out += check_tls_policies(domain, lookup, stage=stage)
    out += check_wildcard_shadow(domain, zone, rrsets, lookup)
    return out


def _dkim(dr, rrsets, lookup: Lookup, zone: str, stage: str) -> list[Finding]:
    """Every selector a profile or sender renders, followed through its CNAME to the key."""
    signer = dr.old if getattr(stage, "before_migration", False) else dr.new
    signing = {n for n, _, _ in signer.records} | {n for s in dr.senders for n, _, _ in s.records}
    old = {n for n, _, _ in dr.old.records} - signing
    names = sorted(n for n in signing | (old if stage != "finalize" else set()))
    out = []
    for name in names:
        if "._domainkey." not in name:
            continue
        record = f"{relative(name, zone)} {'CNAME' if (name, 'CNAME') in rrsets else 'TXT'}"
        key_rrset = rrsets.get((name, "TXT"))
        if key_rrset is not None:
            values = [_joined(v) for v in key_rrset.values]
        elif (name, "CNAME") in rrsets:
            target = rrsets[(name, "CNAME")].values[0]
            values = lookup.values(target, "TXT")
            if values is None or not values:
                sev = "error" if name in signing else "warning"
                out.append(
                    Finding("DKIM_TARGET_MISSING", sev, dr.domain.name, record,
                            f"CNAME target {target} has no TXT key (asked {lookup.described})",
                            "enable DKIM at the provider so it publishes the key, then re-run")
                )  # fmt: skip
                continue
            values = [_joined(v) for v in values]
        else:
            if name in signing:
                out.append(
                    Finding("DKIM_NOT_FOUND", "error", dr.domain.name, record,
                            "the selector is not in the zone")
                )  # fmt: skip
            continue
        for value in values:
            expected = dkim.revocation_expected(dr, name)
            for p in dkim.check_key(value, signing=name in signing, revocation_expected=expected):
                # an old selector being retired is reported, but its flaws are not ours to block on
                sev = p.severity if name in signing else "warning"
                out.append(Finding(p.code, sev, dr.domain.name, record, p.message, p.hint))
    return out


def _joined(value: str) -> str:
    return txt_join(value) if value.startswith('"') else value
