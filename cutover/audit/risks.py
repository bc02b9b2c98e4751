"""The risks of cutting a domain over, each with a severity and what to do about it.

Severities: high (mail will be lost or rejected unless handled before `prepare`/`cutover`),
medium (needs a decision or a check by hand), low (keep in mind), info (for the record).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..records import relative, txt_join
from ..render import STAGES, wants
from .collect import Inventory, ancestors
from .selectors import profile_selectors, selector_of
from .spfbudget import LOOKUP_LIMIT, SpfView, dropped, third_party

SEVERITIES = ("high", "medium", "low", "info")


@dataclass(frozen=True)
class Risk:
    code: str
    severity: str
    record: str  # the name and type it is about, relative to the zone ("@ TXT")
    detail: str  # what was found
    action: str  # what to do

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"[{self.severity}] {self.code} {self.record}: {self.detail} -> {self.action}"


def text_of(value: str) -> str:
    return txt_join(value) if value.startswith('"') else value


def tags(record: str) -> dict[str, str]:
    """`k=v; k=v` tags of DMARC, MTA-STS and TLS-RPT records, keys lower case."""
    out = {}
    for part in record.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return out


def mailboxes(uris: str) -> list[str]:
    """The addresses of `mailto:` URIs in a rua/ruf list (a `!10m` size suffix dropped)."""
    out = []
    for uri in uris.split(","):
        uri = uri.strip()
        if uri.lower().startswith("mailto:"):
            out.append(uri[7:].split("!", 1)[0].strip())
    return out


def parse_mta_sts_policy(text: str) -> dict[str, Any]:
    """RFC 8461 §3.2 policy file: `key: value` lines; `mx` may repeat."""
    out: dict[str, Any] = {"mx": []}
    for line in text.splitlines():
        if ":" not in line:
            continue
        k, v = (s.strip() for s in line.split(":", 1))
        if k.lower() == "mx":
            out["mx"].append(v)
        else:
            out[k.lower()] = v
    return out


def mx_matches(pattern: str, host: str) -> bool:
    """An MTA-STS mx pattern (`*.mail.protection.outlook.com` covers one leftmost label)."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.count(".") >= 1 and host.split(".", 1)[1] == pattern[2:]
    return pattern == host


def assess(env, dr, inv: Inventory, spf: SpfView, policy: str | None) -> list[Risk]:
    """Every risk found for one domain, most severe first."""
    if not inv.answered:
        return [Risk("NO_ANSWER", "high", "@ SOA",
                     "no authoritative server answered: " + "; ".join(inv.problems[:3]),
                     "check validation.nameservers and that the servers serve the zone")]  # fmt: skip
    out: list[Risk] = []
    out += _servers(inv)
    out += _spf_risks(env, dr, spf)
    out += _mta_sts(dr, inv, policy)
    out += _dnssec(inv)
    out += _cname_conflicts(env, dr, inv)
    out += _report_mailboxes(dr, inv)
    out += _dkim(dr, inv)
    out += _wildcards(env, dr, inv)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(out, key=lambda r: order[r.severity])


def _spf_risks(env, dr, spf: SpfView) -> list[Risk]:
    out = []
    live = spf.live_eval
    if live.verdict in ("permerror", "temperror"):
        what = ("SPF fails for every sender today" if live.verdict == "permerror"
                else "SPF could not be evaluated")  # fmt: skip
        out.append(Risk("SPF_LIVE_PERMERROR" if live.verdict == "permerror" else "SPF_LIVE_ERROR",
                        "high" if live.verdict == "permerror" else "medium", "@ TXT",
                        f"{what}: {live.error}",
                        "prepare publishes one record, the union below; check that every "
                        "mechanism listed as dropped is really gone, or add it to keep_spf"))  # fmt: skip
    planned = spf.planned_eval
    if planned.lookups > LOOKUP_LIMIT:
        out.append(Risk("SPF_OVER_BUDGET", "high", "@ TXT",
                        f"the SPF union prepare publishes costs {planned.lookups} DNS lookups "
                        f"(limit {LOOKUP_LIMIT}: receivers return permerror); costliest: "
                        f"{planned.costliest() or 'unknown'}",
                        "drop an include from migration.keep_spf or a sender, or replace one "
                        "with its ip4/ip6 ranges, before prepare"))  # fmt: skip
    elif planned.lookups >= LOOKUP_LIMIT - 1:
        out.append(Risk("SPF_NEAR_BUDGET", "low", "@ TXT",
                        f"the SPF union costs {planned.lookups} of {LOOKUP_LIMIT} lookups",
                        "a provider adding one include to its own record breaks SPF; trim it"))  # fmt: skip
    other = [p.message for p in planned.problems if p.code != "SPF_TOO_MANY_LOOKUPS"]
    if other:
        out.append(Risk("SPF_PLANNED_ERROR", "high", "@ TXT", "; ".join(other),
                        "fix the include names in the profiles or keep_spf"))  # fmt: skip
    declared = {s.profile for s in dr.senders}
    for term in dropped(spf):
        who = third_party(term)
        if who is not None:
            name, overlay = who
            if overlay and overlay not in declared:
                how = f"declare it under domains.{dr.domain.name}.senders.{overlay}, or add "
            else:
                how = "add "
            out.append(Risk("SPF_UNDECLARED_SENDER", "high", "@ TXT",
                            f"{name} ({term}) sends as this domain but is not declared: the "
                            "SPF that prepare publishes drops it",
                            f"{how}\"{term}\" to migration.keep_spf"))  # fmt: skip
        else:
            out.append(Risk("SPF_MECHANISM_DROPPED", "high", "@ TXT",
                            f"the live SPF authorises {term}; the SPF that prepare publishes "
                            "does not",
                            f"add \"{term}\" to migration.keep_spf if it still sends mail"))  # fmt: skip
    return out


def _mta_sts(dr, inv: Inventory, policy: str | None) -> list[Risk]:
    rr = inv.get("_mta-sts", "TXT")
    record = (
        next((text_of(v) for v in rr.values if text_of(v).lower().startswith("v=stsv1")), None)
        if rr
        else None
    )
    if record is None:
        return []
    url = f"https://mta-sts.{dr.domain.name}/.well-known/mta-sts.txt"
    new_mx = [v.split()[-1] for v in dr.new.mx]
    if policy is None:
        return [Risk("MTA_STS_MODE_UNKNOWN", "medium", "_mta-sts TXT",
                     f"MTA-STS is published ({record}); mode unknown, check {url}",
                     "if mode is enforce: list the new MX hosts in the policy first, change the "
                     "id in _mta-sts, and wait max_age before cutover")]  # fmt: skip
    parsed = parse_mta_sts_policy(policy)
    mode = str(parsed.get("mode", "none")).lower()
    missing = [h for h in new_mx if not any(mx_matches(p, h) for p in parsed["mx"])]
    if mode == "enforce":
        what = (f"MTA-STS mode enforce; the policy lacks the new MX {', '.join(missing)}"
                if missing else "MTA-STS mode enforce; the policy lists the new MX")  # fmt: skip
        return [Risk("MTA_STS_ENFORCE", "high" if missing else "medium", "_mta-sts TXT", what,
                     "publish a policy listing the new MX hosts first (keep the old ones), change "
                     f"the id in _mta-sts, and wait max_age ({parsed.get('max_age', '?')} s) "
                     "before cutover")]  # fmt: skip
    if mode == "testing":
        return [Risk("MTA_STS_TESTING", "low", "_mta-sts TXT",
                     "MTA-STS mode testing: failures are only reported",
                     "add the new MX hosts to the policy before cutover to keep reports clean")]  # fmt: skip
    return []


def _dnssec(inv: Inventory) -> list[Risk]:
    if not any((inv.zone, "DNSKEY") in srv for srv in inv.by_server.values()):
        return []
    return [Risk("DNSSEC_SIGNED", "medium", "@ DNSKEY",
                 "the zone is DNSSEC-signed (DNSKEY at the apex)",
                 "make sure the DNS provider re-signs every change (RFC 2136 updates, API "
                 "writes); never change the DS at the registrar during the cutover; negative "
                 "answers are cached up to the SOA minimum")]  # fmt: skip


def _cname_conflicts(env, dr, inv: Inventory) -> list[Risk]:
    out = []
    apex = inv.get("@", "CNAME")
    if apex is not None:
        out.append(Risk("APEX_CNAME", "high", "@ CNAME",
                        f"the domain itself is a CNAME to {apex.values[0]}: MX and TXT cannot "
                        "sit beside it",
                        "point the provider at the zone the CNAME names, or replace the CNAME"))  # fmt: skip
    seen = set()
    for stage in STAGES:
        for w in wants(env, dr, stage):
            if not w.values or (w.name, w.type) in seen or w.name == inv.zone:
                continue
            seen.add((w.name, w.type))
            rel = relative(w.name, inv.zone)
            if w.type != "CNAME" and (cname := inv.get(w.name, "CNAME")) is not None:
                out.append(Risk("CNAME_CONFLICT", "high", f"{rel} CNAME",
                                f"{stage} wants a {w.type} at {rel}, which is a CNAME to "
                                f"{cname.values[0]}",
                                f"delete the CNAME (or move what it points at) before {stage}"))  # fmt: skip
            if w.type == "CNAME":
                other = [t for (n, t) in inv.records if n == w.name and t != "CNAME"]
                if other:
                    out.append(Risk("CNAME_CONFLICT", "high", f"{rel} {other[0]}",
                                    f"{stage} wants a CNAME at {rel}, which holds "
                                    f"{', '.join(sorted(other))} records",
                                    f"delete the {', '.join(sorted(other))} at {rel} before "
                                    f"{stage} (the provider refuses a CNAME beside them)"))  # fmt: skip
    return out


def _in_domain(address: str, domain: str) -> bool:
    host = address.rsplit("@", 1)[-1].lower().rstrip(".")
    d = domain.lower().rstrip(".")
    return host == d or host.endswith("." + d)


def _report_mailboxes(dr, inv: Inventory) -> list[Risk]:
    out = []
    rr = inv.get("_dmarc", "TXT")
    for value in rr.values if rr else ():
        t = tags(text_of(value))
        for tag in ("rua", "ruf"):
            for box in mailboxes(t.get(tag, "")):
                if _in_domain(box, dr.domain.name):
                    out.append(Risk("DMARC_RUA_IN_DOMAIN", "medium", "_dmarc TXT",
                                    f"DMARC {tag} reports go to {box}, a mailbox that moves "
                                    "with the migration",
                                    f"create {box} at the new provider before cutover (or send "
                                    "reports to a mailbox outside the domain)"))  # fmt: skip
    return out


def _dkim(dr, inv: Inventory) -> list[Risk]:
    roles = profile_selectors(dr)
    out = []
    for (name, rtype), _rr in sorted(inv.records.items()):
        sel = selector_of(name)
        if sel is None or rtype not in ("TXT", "CNAME"):
            continue
        role = roles.get(sel)
        rec = f"{relative(name, inv.zone)} {rtype}"
        if role == "old":
            out.append(Risk("OLD_DKIM_KEEP", "low", rec,
                            f"selector {sel} of the old provider ({dr.old.profile}) is live",
                            "keep it until finalize: mail signed before cutover is still being "
                            "delivered and verified; finalize removes it"))  # fmt: skip
        elif role is None:
            out.append(Risk("UNMANAGED_DKIM", "info", rec,
                            f"selector {sel} is live and no profile or sender renders it",
                            "it is left untouched; remove it by hand once nothing signs with it"))  # fmt: skip
    return out


def _servers(inv: Inventory) -> list[Risk]:
    """Servers that lag, disagree or stay silent while others answer."""
    out = []
    serials = {a: s for a, s in inv.serials.items() if s is not None}
    if len(set(serials.values())) > 1:
        newest = max(serials.values())
        behind = ", ".join(f"{a} serves serial {s}" for a, s in serials.items() if s != newest)
        out.append(Risk("SERIALS_DIFFER", "high", "@ SOA",
                        f"{behind}; {inv.server} serves {newest}: a server lags behind",
                        "find out why the lagging server does not transfer the zone (NOTIFY, "
                        "ACLs, TSIG) before prepare: validate waits for every server"))  # fmt: skip
    silent = [a for a, s in inv.serials.items() if s is None]
    if silent and serials:
        out.append(Risk("SERVER_UNANSWERED", "medium", "@ SOA",
                        f"{', '.join(silent)} did not answer for the zone; "
                        f"{', '.join(serials)} did",
                        "fix or remove the silent server from the NS set before prepare: "
                        "resolvers that ask it fail over slowly, and validate cannot pass"))  # fmt: skip
    for d in inv.disagreements():
        shown = "; ".join(
            f"{a} serves " + (f"TTL {v['ttl']} {' | '.join(v['values'])}" if v else "nothing")
            for a, v in d["servers"].items()
        )
        out.append(Risk("SERVERS_DISAGREE", "high", f"{relative(d['name'], inv.zone)} {d['type']}",
                        shown,
                        "make every authoritative server serve the same zone before prepare; "
                        "T_old uses the largest TTL served"))  # fmt: skip
    return out


def _wildcards(env, dr, inv: Inventory) -> list[Risk]:
    """Names that exist only through a wildcard (RFC 4592), and the plan's new names that would
    create an empty non-terminal where the wildcard answers today (RFC 4592 §2.2.2)."""
    if not inv.wildcard:
        return []
    out = []
    covered = sorted({n for n, _ in inv.wildcard})
    shown = ", ".join(relative(n, inv.zone) for n in covered[:8])
    more = f" and {len(covered) - 8} more" if len(covered) > 8 else ""
    out.append(Risk("WILDCARD_COVERED", "info", f"{relative(covered[0], inv.zone)} *",
                    f"{len(covered)} name(s) exist only through a wildcard: {shown}{more}",
                    "nothing to delete there; an explicit record the plan adds at one of them "
                    "takes precedence over the wildcard (RFC 4592)"))  # fmt: skip
    planned = {w.name for st in STAGES for w in wants(env, dr, st) if w.values}
    creates: dict[str, list[str]] = {}  # new empty non-terminal -> the planned names making it
    for name in sorted(planned):
        if inv.exists(name):
            continue
        for ent in ancestors(name, inv.zone):
            if inv.exists(ent):
                break
            if any(n.endswith("." + ent) and n not in planned for n in covered):
                creates.setdefault(ent, []).append(name)
                break
    for ent, names in sorted(creates.items()):
        lost = [n for n in covered if n.endswith("." + ent) and n not in planned]
        shown = ", ".join(relative(n, inv.zone) for n in lost[:8])
        more = f" and {len(lost) - 8} more" if len(lost) > 8 else ""
        new = ", ".join(relative(n, inv.zone) for n in names)
        out.append(Risk("WILDCARD_SHADOWED", "medium",
                        f"{relative(ent, inv.zone)} (empty non-terminal)",
                        f"the plan creates {new}, which makes {relative(ent, inv.zone)} exist: "
                        f"the wildcard stops answering for {shown}{more} (RFC 4592 §2.2.2)",
                        "if anything relies on those answers, publish them as explicit records "
                        "before prepare"))  # fmt: skip
    return out


def severity_counts(risks: list[Risk]) -> dict[str, int]:
    return {s: sum(1 for r in risks if r.severity == s) for s in SEVERITIES}
