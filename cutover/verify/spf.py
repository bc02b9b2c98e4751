"""SPF (RFC 7208) on the record a stage would publish, before it is published.

checkdmarc does the RFC parse and the recursive lookup count through the lint resolvers; this
module adds what only we know: which mechanisms the coexistence union must hold at this stage,
and which include chain costs the most when the budget of 10 is blown.
"""

from __future__ import annotations

import os
from typing import Any

from ..plan import is_spf
from ..records import RRset, relative, txt_strings
from .findings import Finding

LOOKUP_LIMIT = 10


def _checkdmarc_spf():
    # its module-level DNS cache ignores which server answered: never let it serve a stale answer
    os.environ.setdefault("DNS_CACHE_MAX_AGE_SECONDS", "0")
    import checkdmarc.spf
    from checkdmarc.utils import DNS_CACHE

    DNS_CACHE.clear()
    return checkdmarc.spf


def check_spf(
    domain: str, txt: RRset | None, required: list[str], lookup, *, zone: str
) -> list[Finding]:
    """Findings for the apex SPF. `required`: mechanisms the stage's record must contain."""
    record_name = f"{relative(txt.name, zone) if txt else '@'} TXT"

    def finding(code: str, severity: str, message: str, hint: str = "") -> Finding:
        return Finding(code, severity, domain, record_name, message, hint)

    spf_values = [v for v in (txt.values if txt else ()) if is_spf(_join(v))]
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
    out += _checkdmarc(text, domain, lookup, finding)
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


def _checkdmarc(text: str, domain: str, lookup, finding) -> list[Finding]:
    spf = _checkdmarc_spf()
    kw: dict[str, Any] = {"resolver": lookup.resolver, "timeout": 2.0}  # the run's cache
    try:
        parsed = lookup.spf_once(text, domain, lambda: spf.parse_spf_record(text, domain, **kw))
    except spf.SPFTooManyDNSLookups as exc:
        count = (getattr(exc, "data", None) or {}).get("dns_lookups", "more than 10")
        chain = _costliest(text, domain, kw)
        return [
            finding("SPF_TOO_MANY_LOOKUPS", "error",
                    f"{count} DNS lookups (limit {LOOKUP_LIMIT}, permerror); costliest: {chain}",
                    "drop an include, or replace one with ip4/ip6 ranges")
        ]  # fmt: skip
    except spf.SPFTooManyVoidDNSLookups as exc:
        return [finding("SPF_TOO_MANY_VOID_LOOKUPS", "error", str(exc), "remove dead includes")]
    except (spf.SPFIncludeLoop, spf.SPFRedirectLoop) as exc:
        return [finding("SPF_LOOP", "error", str(exc))]
    except spf.SPFRecordNotFound as exc:
        return [
            finding("SPF_INCLUDE_NOT_FOUND", "error", f"{exc} (asked {lookup.described})",
                    "fix the include name")
        ]  # fmt: skip
    except spf.SPFSyntaxError as exc:
        return [finding("SPF_SYNTAX", "error", str(exc))]
    except spf.SPFError as exc:
        return [finding("SPF_ERROR", "error", str(exc))]
    return [finding("SPF_WARNING", "warning", w) for w in parsed.get("warnings", [])]


def _costliest(text: str, domain: str, kw: dict[str, Any]) -> str:
    """The include chain that spends the most lookups, e.g. include:a (4) > include:b (1)."""
    spf = _checkdmarc_spf()
    try:
        parsed = spf.parse_spf_record(text, domain, ignore_too_many_lookups=True, **kw)
    except spf.SPFError:
        return "unknown"
    steps = []
    mechanisms = parsed.get("parsed", {}).get("mechanisms", [])
    while mechanisms:
        top = max(mechanisms, key=lambda m: m.get("dns_lookups", 0))
        if not top.get("dns_lookups"):
            break
        steps.append(f"{top['mechanism']}:{top['value']} ({top['dns_lookups']})")
        mechanisms = (top.get("parsed") or {}).get("mechanisms", [])
    return " > ".join(steps) or "unknown"
