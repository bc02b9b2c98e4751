"""`invoke audit`: read, judge, assemble one document per environment (schema in the README).

Everything the renderers show comes from this document, so text, Markdown, JSON and HTML can
never disagree about a number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import journal, spfeval
from ..errors import UsageError
from ..providers import get_provider
from ..records import RRset, fqdn, relative
from ..render import render_domain, wants
from ..stage import PREPARE
from ..state import get_state
from ..verify.lookup import Lookup, lint_addresses
from .collect import Inventory, collect
from .risks import SEVERITIES, Risk, assess, severity_counts, text_of
from .selectors import WELL_KNOWN, profile_selectors, selector_of
from .spfbudget import SpfView, spf_view

FORMATS = ("text", "md", "json", "html")
SCHEMA = "mailcutover-audit/1"
KIND_ORDER = ("soa", "ns", "mx", "spf", "txt", "cname", "dmarc", "dkim", "mta-sts", "tls-rpt",
              "bimi", "autodiscover", "dnssec", "other")  # fmt: skip


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: TXT version tags: (kind, tag, the relative name it must sit at, or a suffix with a dot first)
VERSION_TAGS = (
    ("dmarc", "v=dmarc1", "_dmarc"),
    ("mta-sts", "v=stsv1", "_mta-sts"),
    ("tls-rpt", "v=tlsrptv1", "_smtp._tls"),
    ("bimi", "v=bimi1", "._bimi"),
)


def _tagged(text: str, tag: str) -> bool:
    """`text` starts with the version tag `tag` (then `;`, space or the end), case-insensitive."""
    low = text.lower()
    return low.startswith(tag) and (len(low) == len(tag) or low[len(tag)] in "; \t")


def _dkim_key(text: str) -> bool:
    tags = [p.split("=", 1)[0].strip().lower() for p in text.split(";") if "=" in p]
    return _tagged(text, "v=dkim1") or ("p" in tags and (not tags or tags[0] != "v"))


def kind_of(name: str, rtype: str, zone: str, values: tuple[str, ...]) -> str:
    """What a record is for, in the words of the report. TXT records are told apart by the
    text receivers read (the strings joined) and its version tag, at the name the tag belongs
    at: `"v=spf1" "include:x"` joins to `v=spf1include:x`, which is no SPF record (RFC 7208
    §4.5), and a `_mta-sts` TXT not starting with `v=STSv1` is no MTA-STS record (RFC 8461)."""
    rel = relative(name, zone)
    if rtype == "TXT":
        texts = [text_of(v) for v in values]
        if any(spfeval.is_spf(t) for t in texts):
            return "spf"
        for kind, tag, where in VERSION_TAGS:
            at = rel.endswith(where) if where.startswith(".") else rel == where
            if at and any(_tagged(t, tag) for t in texts):
                return kind
        if selector_of(name) is not None and any(_dkim_key(t) for t in texts):
            return "dkim"
        return "txt"
    if selector_of(name) is not None and rtype == "CNAME":
        return "dkim"
    if rel == "@":
        return {"MX": "mx", "SOA": "soa", "NS": "ns", "DNSKEY": "dnssec", "CNAME": "cname"}.get(
            rtype, rtype.lower()
        )
    if rel == "mta-sts":
        return "mta-sts"
    if rel in ("autodiscover", "_autodiscover._tcp", "autoconfig"):
        return "autodiscover"
    if rtype == "CNAME":
        return "cname"
    return "other"


def t_old(env, dr, inv: Inventory) -> tuple[int, list[dict[str, Any]]]:
    """The largest TTL among the RRsets prepare would change, as `stages` computes T_old from
    its plan: every live RRset whose prepare result differs from what is served. Every server
    counts, and the largest TTL any of them serves: a resolver may hold that answer."""
    changed = []
    for w in wants(env, dr, PREPARE):
        key = (w.name, w.type)
        served = [srv[key] for srv in inv.by_server.values() if key in srv]
        if any(w.merge(rr) != rr for rr in served):
            changed.append({"name": w.name, "type": w.type, "ttl": max(r.ttl for r in served),
                            "to": w.ttl})  # fmt: skip
    changed.sort(key=lambda c: (-c["ttl"], c["name"], c["type"]))
    return (changed[0]["ttl"] if changed else 0), changed


def soa_doc(inv: Inventory) -> dict[str, Any] | None:
    soa = inv.soa
    if soa is None:
        return None
    mname, rname, serial, refresh, retry, expire, minimum = soa.values[0].split()
    return {
        "ttl": soa.ttl,
        "mname": mname,
        "rname": rname,
        "serial": int(serial),
        "refresh": int(refresh),
        "retry": int(retry),
        "expire": int(expire),
        "minimum": int(minimum),
        "negative_ttl": min(soa.ttl, int(minimum)),
    }


def record_doc(rr: RRset, zone: str) -> dict[str, Any]:
    return {
        "kind": kind_of(rr.name, rr.type, zone, rr.values),
        "name": rr.name,
        "type": rr.type,
        "ttl": rr.ttl,
        "values": list(rr.values),
    }


def domain_doc(env, dr, inv: Inventory, spf: SpfView, risks: list[Risk], now: datetime):
    told, lowers = t_old(env, dr, inv)
    roles = profile_selectors(dr)
    records = sorted(
        (record_doc(rr, inv.zone) for rr in inv.records.values()),
        key=lambda r: (KIND_ORDER.index(r["kind"]) if r["kind"] in KIND_ORDER else 99, r["name"]),
    )
    selectors = sorted(
        {
            selector_of(r["name"]): {
                "selector": selector_of(r["name"]),
                "type": r["type"],
                "ttl": r["ttl"],
                "role": roles.get(selector_of(r["name"]) or "", "unmanaged"),
                "known_as": WELL_KNOWN.get(selector_of(r["name"]) or ""),
            }
            for r in records
            if r["kind"] == "dkim"
        }.values(),
        key=lambda s: s["selector"],
    )
    doc = {
        "domain": dr.domain.name,
        "zone": inv.zone,
        "server": inv.server,
        "servers": inv.servers,
        "serials": inv.serials,
        "disagreements": inv.disagreements(),
        "problems": inv.problems,
        "migration": {
            "from": dr.old.profile,
            "to": dr.new.profile,
            "senders": sorted(s.profile for s in dr.senders),
        },  # fmt: skip
        "soa": soa_doc(inv),
        "records": records,
        "wildcard_covered": [record_doc(rr, inv.zone) for _, rr in sorted(inv.wildcard.items())],
        "dkim_selectors": selectors,
        "spf": spf.to_dict(),
        "t_old": told,
        "prepare_changes": lowers,
        "earliest_cutover": stamp(now + timedelta(seconds=told)),
        "risks": [r.to_dict() for r in risks],
        "risk_counts": severity_counts(risks),
    }
    doc["change_request"] = change_request(env, doc)
    return doc


def change_request(env, d: dict[str, Any]) -> str:
    """Plain text a sysadmin pastes into a change ticket."""
    m = d["migration"]
    lines = [
        f"Change: move mail for {d['domain']} from {m['from']} to {m['to']} "
        f"(environment {env.name})",
        "",
        "Current mail DNS (read from the authoritative server " + f"{d['server'] or 'none'}):",
    ]
    for r in d["records"]:
        if r["kind"] in ("soa", "ns"):
            continue
        lines.append(f"  {r['name']} {r['ttl']} {r['type']} {' | '.join(r['values'])}")
    soa = d["soa"]
    if soa:
        lines.append(f"  negative caching: {soa['negative_ttl']} s (min of SOA TTL, minimum)")
    lines += [
        "",
        "Steps:",
        f"  1. invoke prepare --env {env.name}: lower {len(d['prepare_changes'])} RRset TTL(s) "
        f"to {env.ttl_cutover} s, publish the new provider's records, SPF becomes:",
        f"     {d['spf']['planned']}",
        f"  2. not before {d['earliest_cutover']} if prepare runs now (T_old {d['t_old']} s): "
        f"invoke cutover --env {env.name} (MX switched in one change)",
        f"  3. after mail flows at {m['to']}: invoke finalize --env {env.name} --yes",
        f"  Rollback at any point: invoke rollback --env {env.name}",
        "",
        "Risks:",
    ]
    lines += [f"  [{r['severity']}] {r['code']} {r['record']}: {r['detail']}\n"
              f"      do: {r['action']}" for r in d["risks"]] or ["  none found"]  # fmt: skip
    return "\n".join(lines) + "\n"


def audit(env, *, now: datetime | None = None, mta_sts_dir: str | None = None) -> dict[str, Any]:
    """The audit document for every domain of `env`; changes nothing, takes no lock."""
    now = now or datetime.now(UTC)
    renders = {fqdn(d.name): render_domain(env, d) for d in env.domains}
    provider = get_provider(env)
    try:
        inventories = collect(env, provider, renders)
        lookup = Lookup(lint_addresses(env, provider))
        domains = []
        for inv in inventories:
            dr = renders[inv.zone]
            spf = spf_view(env, dr, inv.get("@", "TXT"), lookup)
            policy, policy_doc = policy_source(env, mta_sts_dir, dr.domain.name)
            risks = assess(env, dr, inv, spf, policy)
            domains.append(domain_doc(env, dr, inv, spf, risks, now))
            domains[-1]["mta_sts_policy"] = policy_doc
    finally:
        provider.close()
    units = journal.stack(get_state(env).read_journal())
    gate = journal.gate_opens(units)
    all_risks = [r for d in domains for r in d["risks"]]
    told = max((d["t_old"] for d in domains), default=0)
    return {
        "schema": SCHEMA,
        "env": env.name,
        "generated_at": stamp(now),
        "stage_in_place": journal.current_stage(units),
        "cutover_gate_opens": stamp(gate) if gate else None,
        "t_old": told,
        "earliest_cutover": stamp(now + timedelta(seconds=told)),
        "summary": {
            "domains": len(domains),
            "records": sum(len(d["records"]) for d in domains),
            "risks": {s: sum(1 for r in all_risks if r["severity"] == s) for s in SEVERITIES},
            "risks_total": len(all_risks),
            "unanswered": sum(1 for d in domains if d["server"] is None),
        },
        "selectors_probed": sorted({s for inv in inventories for s in inv.selectors}),
        "domains": domains,
    }


def policy_source(env, directory: str | None, domain: str) -> tuple[str | None, dict | None]:
    """The MTA-STS policy the audit judges, and what the report says of it: a saved file
    (`--mta-sts-dir`) wins; else, for a domain of the `mta_sts` section, the served policy,
    fetched as senders fetch it. None: no policy to report."""
    from ..mtasts import policy as pol
    from ..mtasts.fetch import FetchError, fetch_for, policy_url

    text = read_policy(directory, domain)
    source = f"{directory}/{domain}.txt" if text is not None else None
    if text is None and env.mta_sts is not None and env.mta_sts.manages(domain):
        source = policy_url(domain)
        try:
            text = fetch_for(env, domain)
        except FetchError as exc:
            return None, {"source": source, "error": str(exc)}
    if text is None:
        return None, None
    try:
        p = pol.parse(text)
    except pol.PolicyError as exc:
        return text, {"source": source, "error": f"not a valid policy: {exc}"}
    return text, {"source": source, "mode": p.mode, "mx": list(p.mx), "max_age": p.max_age}


def read_policy(directory: str | None, domain: str) -> str | None:
    """A saved MTA-STS policy file (`<dir>/<domain>.txt`)."""
    if not directory:
        return None
    path = Path(directory) / f"{domain}.txt"
    return path.read_text() if path.is_file() else None


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"audit: unknown --format {fmt!r} (formats: {', '.join(FORMATS)})")
    return fmt


def check_policy_dir(directory: str | None) -> None:
    if directory and not Path(directory).is_dir():
        raise UsageError(f"audit: --mta-sts-dir {directory}: no such directory")


def render(doc: dict[str, Any], fmt: str) -> str:
    """The document in one of FORMATS."""
    if fmt == "json":
        import json

        return json.dumps(doc, indent=2) + "\n"
    if fmt == "html":
        from .render_html import to_html

        return to_html(doc)
    from .render_text import to_markdown, to_text

    return to_markdown(doc) if fmt == "md" else to_text(doc)
