"""The audit document as one self-contained HTML file: inline CSS, no script, no external asset,
so it can be mailed, attached to a ticket or opened from a share without anything else.
The summary cells carry `data-key` attributes so a test (or a script) can read them back."""

from __future__ import annotations

from html import escape
from typing import Any

from .risks import SEVERITIES

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}
td.v{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all;max-width:40em}
.high{background:#fdd}.medium{background:#ffe9c7}.low{background:#eef6ff}.info{background:#f6f6f6}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}
.sev{font-weight:bold;text-transform:uppercase;font-size:11px}
"""


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def _summary(doc: dict[str, Any]) -> list[str]:
    s = doc["summary"]
    rows = [
        ("domains", "domains", s["domains"]),
        ("records", "records", s["records"]),
        *((f"risks.{sev}", f"{sev} risks", s["risks"][sev]) for sev in SEVERITIES),
        ("risks_total", "risks in total", s["risks_total"]),
        ("t_old", "T_old (s)", doc["t_old"]),
        ("earliest_cutover", "earliest cutover if prepare ran now", doc["earliest_cutover"]),
    ]
    out = ['<table id="summary"><tbody>']
    out += [f'<tr><th>{e(label)}</th><td data-key="{e(key)}">{e(v)}</td></tr>'
            for key, label, v in rows]  # fmt: skip
    out.append("</tbody></table>")
    out.append('<table id="domains"><thead><tr><th>domain</th><th>records</th>'
               + "".join(f"<th>{e(sev)}</th>" for sev in SEVERITIES)
               + "<th>T_old (s)</th><th>earliest cutover</th></tr></thead><tbody>")  # fmt: skip
    for d in doc["domains"]:
        cells = [f'<td><a href="#d-{e(d["domain"])}">{e(d["domain"])}</a></td>',
                 f'<td data-key="records">{len(d["records"])}</td>']  # fmt: skip
        cells += [f'<td data-key="risks.{sev}">{d["risk_counts"][sev]}</td>' for sev in SEVERITIES]
        cells += [f"<td>{d['t_old']}</td><td>{e(d['earliest_cutover'])}</td>"]
        out.append(f'<tr data-domain="{e(d["domain"])}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return out


def _domain(d: dict[str, Any]) -> list[str]:
    m = d["migration"]
    out = [f'<section id="d-{e(d["domain"])}" data-domain="{e(d["domain"])}">',
           f"<h2>{e(d['domain'])}</h2>",
           f"<p>{e(m['from'])} → {e(m['to'])}; read from <code>{e(d['server'] or 'no server')}"
           "</code>.</p>"]  # fmt: skip
    out.append('<p class="serials">Serials: ' + (", ".join(
        f"<code>{e(a)}</code> {e(s if s is not None else 'no answer')}"
        for a, s in d["serials"].items()) or "none") + "</p>")  # fmt: skip
    if d["soa"]:
        s = d["soa"]
        out.append(f"<p>SOA serial {s['serial']}, TTL {s['ttl']}, minimum {s['minimum']}: "
                   f"negative caching <b>{s['negative_ttl']} s</b>.</p>")  # fmt: skip
    out.append(f"<p>T_old <b>{d['t_old']} s</b>: earliest cutover if prepare ran now "
               f"<b>{e(d['earliest_cutover'])}</b>.</p>")  # fmt: skip
    out.append('<h3>Risks</h3><table class="risks"><thead><tr><th>severity</th><th>code</th>'
               "<th>record</th><th>found</th><th>what to do</th></tr></thead><tbody>")  # fmt: skip
    for r in d["risks"]:
        out.append(f'<tr class="{e(r["severity"])}" data-code="{e(r["code"])}">'
                   f'<td class="sev">{e(r["severity"])}</td><td>{e(r["code"])}</td>'
                   f"<td>{e(r['record'])}</td><td>{e(r['detail'])}</td>"
                   f"<td>{e(r['action'])}</td></tr>")  # fmt: skip
    out.append("</tbody></table><h3>Records</h3>")
    out.append('<table class="records"><thead><tr><th>kind</th><th>name</th><th>TTL</th>'
               "<th>type</th><th>values</th></tr></thead><tbody>")  # fmt: skip
    for r in d["records"]:
        out.append(f'<tr data-kind="{e(r["kind"])}"><td>{e(r["kind"])}</td><td>{e(r["name"])}'
                   f"</td><td>{r['ttl']}</td><td>{e(r['type'])}</td>"
                   f'<td class="v">{"<br>".join(e(v) for v in r["values"])}</td></tr>')  # fmt: skip
    spf = d["spf"]
    out.append("</tbody></table><h3>SPF</h3>")
    out.append(f"<p>live: <code>{e(spf['live'] or 'none')}</code> "
               f"({e(spf['live_lookups']['lookups'])} lookups)<br>planned by prepare: "
               f"<code>{e(spf['planned'])}</code> ({e(spf['planned_lookups']['lookups'])} of "
               f"{spf['budget']} lookups)</p>")  # fmt: skip
    out += _mta_sts(d.get("mta_sts_policy"))
    out.append(f"<h3>Change request</h3><pre>{e(d['change_request'])}</pre></section>")
    return out


def _mta_sts(sts: dict[str, Any] | None) -> list[str]:
    """The MTA-STS policy the audit judged (a saved file or the one served), like the text and
    Markdown renderings: mode, mx and max_age, or why it could not be read."""
    if not sts:
        return []
    out = [f'<h3>MTA-STS policy</h3><table class="mta-sts"><tbody>'
           f'<tr><th>source</th><td data-key="mta_sts.source">{e(sts["source"])}</td></tr>']  # fmt: skip
    if "error" in sts:
        out.append(f'<tr class="high"><th>error</th><td data-key="mta_sts.error">'
                   f"{e(sts['error'])}</td></tr>")  # fmt: skip
    else:
        mx = "<br>".join(e(m) for m in sts["mx"]) or "none"
        out += [f'<tr><th>mode</th><td data-key="mta_sts.mode">{e(sts["mode"])}</td></tr>',
                f'<tr><th>mx</th><td class="v" data-key="mta_sts.mx">{mx}</td></tr>',
                f'<tr><th>max_age (s)</th><td data-key="mta_sts.max_age">{e(sts["max_age"])}'
                "</td></tr>"]  # fmt: skip
    out.append("</tbody></table>")
    return out


def to_html(doc: dict[str, Any]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Mail DNS audit: {e(doc['env'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Mail DNS audit: {e(doc['env'])}</h1>",
        f"<p>Generated {e(doc['generated_at'])} from the authoritative servers.</p>",
        *_summary(doc),
    ]
    for d in doc["domains"]:
        parts += _domain(d)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
