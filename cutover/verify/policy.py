"""Email policy lint: what a stage would leave in each zone, checked before anything is applied.

The input is each plan's `result` (every managed RRset as the zone will hold it), so the checks
see the SPF union, the DKIM selectors and the MX set exactly as receivers will once the stage is
applied. The same checks run on what the servers serve (`lint_served`, used by validate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..plan import is_spf
from ..records import RRset, fqdn, relative, txt_join, txt_strings
from ..stage import get_stage
from . import dkim
from .dmarc import check_dmarc, check_tls_policies
from .findings import CODES, Finding
from .lookup import Lookup, lint_addresses, spf_questions
from .mx import check_mx
from .spf import check_spf
from .wildcards import check_wildcard_shadow, wildcard_questions

__all__ = ["CODES", "Finding", "lint_plans", "lint_zones", "lint_zone", "blocking"]


def blocking(findings: list[Finding], strict: bool = False) -> list[Finding]:
    """The findings that refuse an apply: errors, and with --strict warnings too."""
    return [f for f in findings if f.severity == "error" or (strict and f.severity == "warning")]


def lint_plans(env, stage: str, plans, provider) -> list[Finding]:
    from ..render import render_domain

    if not plans:
        return []
    lookup = Lookup(lint_addresses(env, provider))
    lookup.probe(plans[0].zone)
    zones = {p.zone for p in plans}
    renders = {fqdn(d.name): render_domain(env, d) for d in env.domains if fqdn(d.name) in zones}
    return lint_zones(env, stage, [(renders[p.zone], p.result) for p in plans], lookup)


def lint_zones(
    env, stage: str, zones: list[tuple[Any, Mapping[tuple[str, str], RRset]]], lookup: Lookup
) -> list[Finding]:
    """Lint many zones with one shared lookup: every outside name any check will ask is asked
    first, once and concurrently (`Lookup.prefetch`); then each zone is checked from the cache."""
    lookup.prefetch(q for dr, rrsets in zones for q in questions(dr, rrsets))
    out: list[Finding] = []
    for dr, rrsets in zones:
        out += lint_zone(env, stage, dr, rrsets, lookup)
    return out


def questions(dr, rrsets: Mapping[tuple[str, str], RRset]) -> list[tuple[str, str]]:
    """The lookups the checks of `lint_zone` will make for one zone (a forecast: a question
    missed here is still asked when a check needs it, only later and alone)."""
    zone = fqdn(dr.domain.name)
    domain = dr.domain.name
    out: list[tuple[str, str]] = []
    apex = rrsets.get((zone, "TXT"))
    for value in apex.values if apex else ():
        text = b"".join(txt_strings(value)).decode("utf-8", errors="replace")
        if is_spf(text):
            out += spf_questions(text, domain)
    mx = rrsets.get((zone, "MX"))
    for value in mx.values if mx else ():
        host = value.split()[1]
        if host != ".":
            out += [(host, "A"), (host, "AAAA")]  # the A answer also shows a CNAME there
    for (name, rtype), rrset in rrsets.items():
        if rtype == "CNAME" and "._domainkey." in name:
            out += [(v, "TXT") for v in rrset.values]
    dmarc = rrsets.get((fqdn("_dmarc", zone), "TXT"))
    for value in dmarc.values if dmarc else ():
        out += _dmarc_questions(txt_join(value), domain)
    out += [(f"_mta-sts.{domain}.", "TXT"), (f"_smtp._tls.{domain}.", "TXT")]
    out += wildcard_questions(zone, rrsets)
    return out


def _dmarc_questions(text: str, domain: str) -> list[tuple[str, str]]:
    """checkdmarc checks that each rua/ruf mailbox domain has MX records, and that a domain
    other than ours has authorised the reports (RFC 7489 §7.1)."""
    out: list[tuple[str, str]] = []
    if not text.strip().lower().startswith("v=dmarc1"):
        return out
    for part in text.split(";"):
        tag, _, value = part.partition("=")
        if tag.strip().lower() not in ("rua", "ruf"):
            continue
        for uri in value.split(","):
            uri = uri.strip()
            if not uri.lower().startswith("mailto:") or "@" not in uri:
                continue
            host = uri.split("@", 1)[1].split("!", 1)[0].strip().rstrip(".")
            if not host:
                continue
            out.append((f"{host}.", "MX"))
            if host.lower() != domain.lower().rstrip("."):
                out.append((f"{domain}._report._dmarc.{host}.", "TXT"))
    return out


def required_spf(env, dr, stage: str) -> list[str]:
    """The mechanisms the stage's SPF must hold: the coexistence union until finalize."""
    senders = [m for s in dr.senders for m in s.spf]
    st = get_stage(stage, allow_none=True)
    old = [] if st.drops_old else dr.old.spf
    new = [] if st.before_migration else dr.new.spf
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
    tls = check_tls_policies(domain, lookup, stage=stage)
    if getattr(env, "mta_sts", None) is not None and env.mta_sts.manages(domain):
        tls = [f for f in tls if f.code != "MTA_STS_PRESENT"]  # the stages keep the policy
    out += tls
    out += check_wildcard_shadow(domain, zone, rrsets, lookup)
    return out


def _dkim(dr, rrsets, lookup: Lookup, zone: str, stage: str) -> list[Finding]:
    """Every selector a profile or sender renders, followed through its CNAME to the key."""
    st = get_stage(stage, allow_none=True)
    signer = dr.old if st.before_migration else dr.new
    signing = {n for n, _, _ in signer.records} | {n for s in dr.senders for n, _, _ in s.records}
    old = {n for n, _, _ in dr.old.records} - signing
    names = sorted(n for n in signing | (set() if st.drops_old else old))
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
