"""MX (RFC 5321, RFC 2181 §10.3, RFC 7505) as a stage would leave it."""

from __future__ import annotations

from ..addresses import is_ip
from ..records import RRset
from ..stage import get_stage
from .findings import Finding


def check_mx(
    domain: str, mx: RRset | None, lookup, *, stage: str, profile_mx: list[str]
) -> list[Finding]:
    def finding(code: str, severity: str, message: str, hint: str = "") -> Finding:
        return Finding(code, severity, domain, "@ MX", message, hint)

    if mx is None:
        return []  # zero MX is refused by the planner itself
    hosts = [v.split()[1] for v in mx.values]
    out = []
    if "." in hosts and len(hosts) > 1:
        out.append(finding("MX_NULL_MIXED", "error", "a null MX (0 .) must be the only MX"))
    switched = get_stage(stage, allow_none=True).switches_mx
    if switched and profile_mx and sorted(mx.values) != sorted(profile_mx):
        out.append(
            finding("MX_NOT_PROFILE", "error",
                    f"MX is {', '.join(mx.values)}; the target profile wants {', '.join(profile_mx)}")
        )  # fmt: skip
    for host in hosts:
        if host == ".":
            continue
        if is_ip(host.rstrip(".")):
            out.append(
                finding("MX_IP_TARGET", "error", f"{host} is an IP address, not a host name",
                        "point MX at a host name with an A record")
            )  # fmt: skip
            continue
        if lookup.values(host, "CNAME"):
            out.append(
                finding("MX_CNAME_TARGET", "error", f"{host} is a CNAME (RFC 2181 §10.3)",
                        "point MX at the canonical host name")
            )  # fmt: skip
            continue
        addresses = (lookup.values(host, "A") or []) + (lookup.values(host, "AAAA") or [])
        if not addresses:
            new = host in {v.split()[1] for v in profile_mx}
            sev = "error" if switched and new else "warning"
            out.append(
                finding("MX_UNRESOLVABLE", sev,
                        f"{host} has no A or AAAA record (asked {lookup.described})",
                        "check the MX host name from the provider's console")
            )  # fmt: skip
    return out
