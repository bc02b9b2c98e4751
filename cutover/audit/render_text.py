"""The audit document as plain text (a terminal) or Markdown (a wiki page, a pull request)."""

from __future__ import annotations

from typing import Any

from .risks import SEVERITIES


def _summary_rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    s = doc["summary"]
    rows = [("domains", str(s["domains"])), ("records", str(s["records"]))]
    rows += [(f"{sev} risks", str(s["risks"][sev])) for sev in SEVERITIES]
    rows += [("T_old", f"{doc['t_old']} s"), ("earliest cutover", doc["earliest_cutover"])]
    return rows


def _record_line(r: dict[str, Any]) -> str:
    return f"{r['kind']:<12} {r['name']} {r['ttl']} {r['type']} {' | '.join(r['values'])}"


def to_text(doc: dict[str, Any]) -> str:
    out = [f"Audit of environment {doc['env']} at {doc['generated_at']}"]
    out += [f"  {k}: {v}" for k, v in _summary_rows(doc)]
    if doc["stage_in_place"]:
        out.append(f"  stage in place: {doc['stage_in_place']}")
    for d in doc["domains"]:
        out += ["", f"== {d['domain']} ({d['migration']['from']} -> {d['migration']['to']}) "
                    f"read from {d['server'] or 'no server'}"]  # fmt: skip
        out.append("Servers: " + (", ".join(
            f"{a} serial {s if s is not None else 'no answer'}" for a, s in d["serials"].items()
        ) or "none"))  # fmt: skip
        soa = d["soa"]
        if soa:
            out.append(f"SOA serial {soa['serial']} TTL {soa['ttl']} minimum {soa['minimum']}; "
                       f"negative caching {soa['negative_ttl']} s")  # fmt: skip
        out.append("Records:")
        out += [f"  {_record_line(r)}" for r in d["records"]]
        if d["wildcard_covered"]:
            out.append("Only through a wildcard:")
            out += [f"  {_record_line(r)}" for r in d["wildcard_covered"]]
        out.append("DKIM selectors: " + (", ".join(
            f"{s['selector']} ({s['role']}, TTL {s['ttl']})" for s in d["dkim_selectors"]
        ) or "none found"))  # fmt: skip
        spf = d["spf"]
        live, planned = spf["live_lookups"], spf["planned_lookups"]
        out.append(f"SPF live: {spf['live'] or 'none'} ({live['lookups']} lookups)")
        out.append(f"SPF planned: {spf['planned']} ({planned['lookups']} of {spf['budget']})")
        sts = d.get("mta_sts_policy")
        if sts:
            out.append(f"MTA-STS policy ({sts['source']}): " + (
                f"error: {sts['error']}" if "error" in sts else
                f"mode {sts['mode']}, mx {', '.join(sts['mx']) or 'none'}, max_age {sts['max_age']}"
            ))  # fmt: skip
        out.append(f"T_old {d['t_old']} s; earliest cutover if prepare ran now: "
                   f"{d['earliest_cutover']}")  # fmt: skip
        out.append("Risks:")
        out += [f"  [{r['severity']}] {r['code']} {r['record']}: {r['detail']}\n"
                f"      do: {r['action']}" for r in d["risks"]] or ["  none"]  # fmt: skip
        for p in d["problems"]:
            out.append(f"  problem: {p}")
        out += ["Change request:", *("  | " + line for line in d["change_request"].splitlines())]
    return "\n".join(out) + "\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: dict[str, Any]) -> str:
    out = [f"# Mail DNS audit: {doc['env']}", "", f"Generated {doc['generated_at']}.", "",
           "| | |", "|---|---|"]  # fmt: skip
    out += [f"| {k} | {_cell(v)} |" for k, v in _summary_rows(doc)]
    for d in doc["domains"]:
        out += ["", f"## {d['domain']}", "",
                f"{d['migration']['from']} → {d['migration']['to']}, read from "
                f"`{d['server'] or 'no server'}`.", ""]  # fmt: skip
        if d["soa"]:
            s = d["soa"]
            out += [f"SOA TTL {s['ttl']}, minimum {s['minimum']}: negative caching "
                    f"**{s['negative_ttl']} s**.", ""]  # fmt: skip
        out += ["| kind | name | TTL | type | values |", "|---|---|---|---|---|"]
        out += [f"| {r['kind']} | {r['name']} | {r['ttl']} | {r['type']} | "
                f"{_cell(' / '.join(r['values']))} |" for r in d["records"]]  # fmt: skip
        out += ["", "Serials: " + (", ".join(
            f"`{a}` {s if s is not None else 'no answer'}" for a, s in d["serials"].items()
        ) or "none") + "."]  # fmt: skip
        sts = d.get("mta_sts_policy")
        if sts:
            out += ["", f"MTA-STS policy (`{sts['source']}`): " + _cell(
                f"error: {sts['error']}" if "error" in sts else
                f"mode {sts['mode']}, mx {', '.join(sts['mx']) or 'none'}, max_age {sts['max_age']}"
            )]  # fmt: skip
        spf = d["spf"]
        out += ["", f"SPF planned: `{spf['planned']}` "
                    f"({spf['planned_lookups']['lookups']} of {spf['budget']} lookups).", "",
                f"T_old **{d['t_old']} s**: earliest cutover if prepare ran now "
                f"**{d['earliest_cutover']}**.", "", "### Risks", ""]  # fmt: skip
        out += [f"- **{r['severity']}** `{r['code']}` {r['record']}: {r['detail']}. "
                f"*Do:* {r['action']}" for r in d["risks"]] or ["- none"]  # fmt: skip
        out += ["", "### Change request", "", "```", d["change_request"].rstrip(), "```"]
    return "\n".join(out) + "\n"
