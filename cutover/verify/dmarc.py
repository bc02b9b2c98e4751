"""DMARC (RFC 7489 / DMARCbis), and the two TLS policy records (MTA-STS, TLS-RPT) beside it.

checkdmarc parses and raises typed errors; here they become stable finding codes. Its warning
that `p=none` is unenforced is kept only at finalize: before that the record is the user's own,
deliberately left alone by the migration, and a warning on every run would teach people to
ignore warnings.
"""

from __future__ import annotations

import os

from ..records import RRset, relative, txt_join
from ..stage import get_stage
from .findings import Finding


def _checkdmarc_dmarc():
    os.environ.setdefault("DNS_CACHE_MAX_AGE_SECONDS", "0")
    import checkdmarc.dmarc
    from checkdmarc.utils import DNS_CACHE

    DNS_CACHE.clear()
    return checkdmarc.dmarc


def check_dmarc(
    domain: str, rrset: RRset | None, lookup, *, zone: str, stage: str
) -> list[Finding]:
    record = f"{relative(rrset.name, zone) if rrset else '_dmarc'} TXT"

    def finding(code: str, severity: str, message: str, hint: str = "") -> Finding:
        return Finding(code, severity, domain, record, message, hint)

    final = get_stage(stage, allow_none=True).drops_old  # the configured policy is in place
    values = [txt_join(v) for v in (rrset.values if rrset else ())]
    dmarc_values = [v for v in values if _tagged(v, "v=DMARC1")]
    if not dmarc_values:
        sev = "error" if final else "warning"
        return [finding("DMARC_MISSING", sev, "no DMARC record", "set dmarc.policy")]
    if len(dmarc_values) > 1:
        return [finding("DMARC_MULTIPLE", "error", f"{len(dmarc_values)} DMARC records")]
    dmarc = _checkdmarc_dmarc()
    try:
        parsed = dmarc.parse_dmarc_record(
            dmarc_values[0], domain, resolver=lookup.resolver, timeout=2.0
        )
    except dmarc.InvalidDMARCTagValue as exc:
        return [finding("DMARC_INVALID_TAG_VALUE", "error", str(exc), "fix the tag value")]
    except dmarc.InvalidDMARCTag as exc:
        return [finding("DMARC_INVALID_TAG", "error", str(exc))]
    except dmarc.DMARCError as exc:
        return [finding("DMARC_SYNTAX", "error", str(exc))]
    out = []
    for warning in parsed.get("warnings", []):
        if "does not indicate that it accepts DMARC reports" in warning:
            out.append(
                finding("DMARC_REPORT_NOT_AUTHORIZED", "warning", warning,
                        "publish the _report._dmarc record at the report domain")
            )  # fmt: skip
        elif final or "p tag value of none" not in warning:
            out.append(finding("DMARC_WARNING", "warning", warning))
    return out


def _tagged(text: str, tag: str) -> bool:
    """The record starts with its version tag (then `;`, space or the end)."""
    low, tag = text.strip().lower(), tag.lower()
    return low.startswith(tag) and (len(low) == len(tag) or low[len(tag)] in "; \t")


def check_tls_policies(domain: str, lookup, *, stage: str) -> list[Finding]:
    """MTA-STS pins the MX hosts; a cutover that ignores it bounces mail from enforcing senders.

    Only a TXT starting with `v=STSv1` is an MTA-STS record (RFC 8461 §3.1) and only one starting
    with `v=TLSRPTv1` a TLS-RPT record (RFC 8460 §3); anything else at those names (a wildcard's
    "hello wildcard", a verification string) is ignored, as senders ignore it."""
    out = []
    sts = [txt_join(v) for v in lookup.values(f"_mta-sts.{domain}.", "TXT") or []]
    st = get_stage(stage, allow_none=True)
    switching = not st.drops_old and not st.before_migration  # MX moves in this stage or next
    if any(_tagged(v, "v=STSv1") for v in sts) and switching:
        out.append(
            Finding("MTA_STS_PRESENT", "warning", domain, "_mta-sts TXT",
                    "MTA-STS is published: senders enforcing it refuse MX hosts not in the policy",
                    "list the new MX hosts in https://mta-sts.<domain>/.well-known/mta-sts.txt "
                    "and change the id before cutover")
        )  # fmt: skip
    tlsrpt = [txt_join(v) for v in lookup.values(f"_smtp._tls.{domain}.", "TXT") or []]
    for value in tlsrpt:
        if not _tagged(value, "v=TLSRPTv1"):
            continue
        tags = dict(p.strip().partition("=")[::2] for p in value.split(";") if p.strip())
        if tags.get("v") != "TLSRPTv1" or "rua" not in tags:
            out.append(
                Finding("TLSRPT_SYNTAX", "warning", domain, "_smtp._tls TXT",
                        f"{value!r}: needs v=TLSRPTv1 first and a rua= tag")
            )  # fmt: skip
    return out
