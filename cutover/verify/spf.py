"""SPF (RFC 7208) on the record a stage would publish, before it is published.

The lookup and void counts, the include/redirect chain, macros and the permerror verdicts are
the project's one evaluator (`cutover.spfeval`, also behind `audit`): checkdmarc counts neither
inside macros nor past `all` the way RFC 7208 does. This module adds what only we know: which
mechanisms the coexistence union must hold at this stage, and the record's own shape (sizes,
`+all`, `ptr`, `all` not last).
"""

from __future__ import annotations

from .. import spfeval
from ..records import RRset, relative, txt_strings
from .findings import Finding

LOOKUP_LIMIT = spfeval.LOOKUP_LIMIT

_HINTS = {
    "SPF_TOO_MANY_LOOKUPS": "drop an include, or replace one with ip4/ip6 ranges",
    "SPF_TOO_MANY_VOID_LOOKUPS": "remove dead includes and a:/mx: names that do not exist",
    "SPF_INCLUDE_NOT_FOUND": "fix the include name",
    "SPF_MULTIPLE": "the include target must publish exactly one v=spf1 record",
}


def check_spf(
    domain: str,
    txt: RRset | None,
    required: list[str],
    lookup,
    *,
    zone: str,
) -> list[Finding]:
    """Findings for the apex SPF. `required`: mechanisms the stage's record must contain. The
    record is evaluated through `lookup.values` (the run's cache), once per run for every
    domain that publishes the same record."""
    record_name = f"{relative(txt.name, zone) if txt else '@'} TXT"

    def finding(code: str, severity: str, message: str, hint: str = "") -> Finding:
        return Finding(code, severity, domain, record_name, message, hint)

    spf_values = [v for v in (txt.values if txt else ()) if spfeval.is_spf(_join(v))]
    if not spf_values:
        return [finding("SPF_MISSING", "error", "no v=spf1 record", "render the profile's SPF")]
    if len(spf_values) > 1:
        return [
            finding("SPF_MULTIPLE", "error", f"{len(spf_values)} v=spf1 records (permerror)",
                    "merge them into one")
        ]  # fmt: skip
    raw = spf_values[0]
    text = _join(raw)
    out = _own_checks(text, raw, required, finding)
    evaluation = lookup.spf_once(
        text, domain, lambda: spfeval.evaluate(text, domain, lookup.values)
    )
    return out + evaluation_findings(evaluation, lookup.described, finding)


def evaluation_findings(ev: spfeval.Evaluation, asked: str, finding) -> list[Finding]:
    """The evaluator's permerrors and temperrors as lint findings (each code once)."""
    out = []
    seen = set()
    for p in ev.problems:
        if p.code in seen:
            continue
        seen.add(p.code)
        message = p.message
        if p.code in ("SPF_INCLUDE_NOT_FOUND", "SPF_ERROR"):
            message += f" (asked {asked})"
        out.append(finding(p.code, "error", message, _HINTS.get(p.code, "")))
    if ev.uncounted and not out:
        out.append(
            finding("SPF_MACRO_UNCOUNTED", "warning",
                    f"{', '.join(ev.uncounted)} needs the sender to expand: the {ev.lookups} "
                    "lookups counted exclude what it includes",
                    "keep the budget below 10 with room for that record")
        )  # fmt: skip
    return out


def _join(value: str) -> str:
    return b"".join(txt_strings(value)).decode("utf-8", errors="replace")


def _own_checks(text: str, raw: str, required: list[str], finding) -> list[Finding]:
    out = []
    terms = text.split()[1:]
    low = [t.lower() for t in terms]
    for s in txt_strings(raw):
        if len(s) > 255:
            out.append(finding("SPF_STRING_TOO_LONG", "error", f"a string of {len(s)} bytes"))
    if len(text) > 450:
        out.append(
            finding("SPF_TOO_LONG", "warning", f"{len(text)} bytes: may not fit one UDP answer",
                    "replace ip4/ip6 lists with an include")
        )  # fmt: skip
    alls = [i for i, t in enumerate(low) if t.lstrip("+-~?") == "all"]
    if any(low[i] in ("all", "+all") for i in alls):
        out.append(
            finding("SPF_PASS_ALL", "error", "+all lets anyone send as this domain",
                    "end the record with ~all or -all")
        )  # fmt: skip
    if any(low[i] == "?all" for i in alls):
        out.append(finding("SPF_NEUTRAL_ALL", "warning", "?all gives no protection"))
    if alls and alls[-1] != len(low) - 1:
        out.append(
            finding("SPF_ALL_NOT_LAST", "warning", "terms after `all` are ignored",
                    "put `all` last")
        )  # fmt: skip
    if any(t.lstrip("+-~?").split(":")[0] == "ptr" for t in low):
        out.append(finding("SPF_PTR", "warning", "ptr should not be used (RFC 7208 §5.5)"))
    missing = [m for m in required if m.lower() not in low and f"+{m.lower()}" not in low]
    if missing:
        out.append(
            finding("SPF_UNION_INCOMPLETE", "error", f"lacks {', '.join(missing)}",
                    "mail from those senders would fail SPF; add them (keep_spf or senders)")
        )  # fmt: skip
    return out
