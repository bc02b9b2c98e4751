"""Profiles (Jinja2 YAML templates) rendered into what each stage wants for each domain.

A profile says what one mail provider needs at a domain, in a provider-neutral shape:

    mx:      ["0 example-com.mail.protection.outlook.com."]   # the apex MX set
    spf:     ["include:spf.protection.outlook.com"]          # mechanisms for the one SPF record
    spf_all: "~all"                                          # qualifier, as the target wants it
    txt:     ["MS=ms12345678"]                               # apex TXT values this profile owns
    records: [{name: selector1._domainkey, type: CNAME, values: [...]}]   # DKIM and the like
    client:  [{name: autodiscover, type: CNAME, values: [...]}]         # switched at cutover
    dmarc:   {policy: reject, adkim: s}          # tags a target insists on (no-mail), optional

Each template declares its inputs in front matter (see inputs.py); they are checked, defaults
applied, before the template is rendered, so a missing or malformed input is one line naming
the domain, the profile and the input.

Coexistence lives here, in one place: the SPF union, the old DKIM kept until `finalize`, the
old client records replaced at `cutover`, values no profile names carried along untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from . import fastyaml
from .config import Domain, Environment
from .errors import TemplateError
from .inputs import check_inputs, read_spec
from .plan import Want
from .profiles import available_profiles, search_path
from .records import fqdn, normalize_value
from .stage import NAMES as STAGES  # noqa: F401 - re-exported for audit and views
from .stage import Stage, get_stage


@dataclass
class Rendered:
    """One profile's records for one domain, names absolute."""

    profile: str
    mx: list[str] = field(default_factory=list)
    spf: list[str] = field(default_factory=list)
    spf_all: str = "~all"
    txt: list[str] = field(default_factory=list)
    records: list[tuple[str, str, list[str]]] = field(default_factory=list)
    client: list[tuple[str, str, list[str]]] = field(default_factory=list)
    dmarc: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=16)
def _environment(root: Path) -> jinja2.Environment:
    """One Jinja environment per project root, so each template is compiled once per process
    (compiling it for every domain cost ~8 ms, 4 s for 500 domains); `auto_reload` still
    recompiles a template whose file changed."""
    loader = jinja2.FileSystemLoader([str(p) for p in search_path(root)])
    return jinja2.Environment(
        loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )


def render_profile(
    env: Environment,
    domain: Domain,
    profile: str,
    role: str,
    inputs: dict[str, Any],
    kind: str = "",
) -> Rendered:
    """Render one profile template; a missing input names the input, the profile and the domain."""
    known = available_profiles(env.root, kind)
    if profile not in known:
        what = "sender" if kind else "profile"
        raise TemplateError(
            f"{domain.name}: unknown {what} {profile!r} (available: {', '.join(known) or 'none'})"
        )
    template_name = known[profile].name if not kind else f"{kind}/{known[profile].name}"
    spec = read_spec(profile, "sender" if kind else "profile", known[profile])
    label = f"sender {profile}" if kind else f"profile {profile} ({role})"
    section = f"senders.{profile}" if kind else role
    inputs = check_inputs(
        spec,
        domain.name,
        role,
        inputs,
        where=f"{domain.name}: {label}",
        hint=f"set it under domains.{domain.name}.{section} or defaults.{section}"
        + "; `invoke profiles` lists every input",
    )
    context = {
        **inputs,
        "domain": domain.name,
        "domain_dashed": domain.name.replace(".", "-"),
        "role": role,
        "inputs": inputs,
    }
    where = f"{template_name} for {domain.name} ({role})"
    try:
        text = _environment(env.root).get_template(template_name).render(context)
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"{where}: missing input: {exc.message}",
            f"add it under domains.{domain.name}.{role} or defaults.{role}",
        ) from exc
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise TemplateError(f"{where}{f' line {line}' if line else ''}: {exc}") from exc
    try:
        data = fastyaml.load(text) or {}
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where}: rendered YAML is invalid: {exc}".splitlines()[0]) from exc
    return _parse_rendered(profile, where, domain.name, data)


def _parse_rendered(profile: str, where: str, zone: str, data: Any) -> Rendered:
    if not isinstance(data, dict):
        raise TemplateError(f"{where}: must render a mapping")
    allowed = {"mx", "spf", "spf_all", "txt", "records", "client", "dmarc"}
    extra = set(data) - allowed
    if extra:
        raise TemplateError(f"{where}: unknown keys {sorted(extra)} (allowed: {sorted(allowed)})")
    out = Rendered(profile=profile)
    out.mx = [normalize_value("MX", str(v)) for v in data.get("mx") or []]
    out.spf = [str(v) for v in data.get("spf") or []]
    out.spf_all = str(data.get("spf_all") or "~all")
    out.txt = [str(v) for v in data.get("txt") or []]
    dmarc = data.get("dmarc") or {}
    if not isinstance(dmarc, dict):
        raise TemplateError(f"{where}: dmarc must be a mapping of DMARC tags")
    out.dmarc = {str(k): str(v) for k, v in dmarc.items()}
    for section in ("records", "client"):
        rows = []
        for i, rec in enumerate(data.get(section) or []):
            if not isinstance(rec, dict) or "name" not in rec or "type" not in rec:
                raise TemplateError(f"{where}: {section}[{i}] needs name and type")
            values = rec.get("values", [rec["value"]] if "value" in rec else [])
            rtype = str(rec["type"]).upper()
            name = fqdn(str(rec["name"]), zone)
            rows.append((name, rtype, [normalize_value(rtype, str(v)) for v in values]))
        setattr(out, section, rows)
    return out


def spf_record(mechanisms: list[str], qualifier: str) -> str:
    """One SPF value from mechanisms, deduplicated in order, `all` last."""
    seen: list[str] = []
    for m in mechanisms:
        m = m.strip()
        if m and m not in seen and not m.lower().lstrip("+-~?").startswith("all"):
            seen.append(m)
    return " ".join(["v=spf1", *seen, qualifier])


SPF_ALL_STRICTNESS = {"?all": 0, "~all": 1, "-all": 2}


def looser_all(old: str, new: str) -> str:
    """The qualifier while both providers send: never stricter than the old record, so a
    sender that soft-failed yesterday is not rejected from `prepare` on; `finalize` applies the
    new profile's own qualifier (a parked domain's -all)."""
    rank = SPF_ALL_STRICTNESS
    return min((old, new), key=lambda q: rank.get(q.lower(), -1))


def dmarc_record(policy: dict[str, Any]) -> str:
    parts = ["v=DMARC1", f"p={policy.get('policy', 'none')}"]
    for tag in ("sp", "np", "adkim", "aspf", "fo"):
        if policy.get(tag):
            parts.append(f"{tag}={policy[tag]}")
    for tag in ("rua", "ruf"):
        if policy.get(tag):
            uri = str(policy[tag])
            parts.append(f"{tag}={uri if ':' in uri else 'mailto:' + uri}")
    return "; ".join(parts)


@dataclass
class DomainRender:
    """Both profiles and every sender overlay rendered for one domain."""

    domain: Domain
    old: Rendered
    new: Rendered
    senders: list[Rendered]


def render_domain(env: Environment, domain: Domain) -> DomainRender:
    old = render_profile(env, domain, env.migration.from_profile, "from", domain.from_inputs)
    new = render_profile(env, domain, env.migration.to_profile, "to", domain.to_inputs)
    senders = [
        render_profile(env, domain, name, "sender", inputs, kind="senders")
        for name, inputs in domain.senders.items()
    ]
    return DomainRender(domain, old, new, senders)


def wants(env: Environment, dr: DomainRender, stage: str | Stage) -> list[Want]:
    """What `stage` wants at every managed name of one domain."""
    stage = get_stage(stage, allow_none=True)
    if stage.before_migration:
        return _wants_before(env, dr, stage)
    zone = fqdn(dr.domain.name)
    final = stage.drops_old
    ttl = stage.ttl(env.ttl_cutover, env.ttl_final)
    old, new, senders = dr.old, dr.new, dr.senders
    sender_spf = [m for s in senders for m in s.spf]
    out: dict[tuple[str, str], Want] = {}

    def put(name: str, rtype: str, values: list[str] | None, **kw: Any) -> None:
        vals = None if values is None else tuple(values)
        out[(name, rtype)] = Want(name, rtype, ttl, vals, lower_only=stage.lower_only, **kw)

    # the apex MX: kept as served until cutover switches it in one change
    put(zone, "MX", new.mx or None if stage.switches_mx else None)
    # the shared apex TXT: one SPF value, plus the verification values the profiles own
    if final:
        spf = spf_record(new.spf + sender_spf + env.migration.keep_spf, new.spf_all)
        txt = [spf, *new.txt]
    else:
        mechanisms = old.spf + new.spf + sender_spf + env.migration.keep_spf
        qualifier = looser_all(old.spf_all, new.spf_all)
        txt = [spf_record(mechanisms, qualifier), *old.txt, *new.txt]
    owned = frozenset(old.txt + new.txt)
    put(zone, "TXT", txt, partial=True, owned=owned)
    dmarc = {**env.dmarc, **new.dmarc}  # a target's own tags win (a parked domain rejects)
    put(fqdn("_dmarc", zone), "TXT", [dmarc_record(dmarc)] if final else None)

    for name, rtype, _values in old.records:
        put(name, rtype, [] if final else None)
    for name, rtype, _values in old.client:
        put(name, rtype, [] if stage.switches_client else None)
    for name, rtype, values in new.records:
        put(name, rtype, values)
    if stage.switches_client:
        for name, rtype, values in new.client:
            put(name, rtype, values)
    for sender in senders:
        for name, rtype, values in sender.records + sender.client:
            put(name, rtype, values)
    return list(out.values())


#: "whatever TTL is live": a Want never raises a TTL when lower_only, so this checks none
ANY_TTL = 2**31 - 1


def _wants_before(env: Environment, dr: DomainRender, stage: Stage) -> list[Want]:
    """What the `from` profile (with the senders and keep_spf) renders: the zone before the
    migration, values only (no stage has set its TTLs yet)."""
    zone = fqdn(dr.domain.name)
    old, senders = dr.old, dr.senders
    out: dict[tuple[str, str], Want] = {}

    def put(name: str, rtype: str, values: list[str] | None, **kw: Any) -> None:
        vals = None if values is None else tuple(values)
        out[(name, rtype)] = Want(name, rtype, ANY_TTL, vals, lower_only=True, **kw)

    put(zone, "MX", old.mx or None)
    mechanisms = old.spf + [m for s in senders for m in s.spf] + env.migration.keep_spf
    put(zone, "TXT", [spf_record(mechanisms, old.spf_all), *old.txt], partial=True,
        owned=frozenset(old.txt))  # fmt: skip
    put(fqdn("_dmarc", zone), "TXT", None)  # read, so lint sees it; its policy is the user's
    for name, rtype, values in old.records + old.client:
        put(name, rtype, values or None)
    for sender in senders:
        for name, rtype, values in sender.records + sender.client:
            put(name, rtype, values)
    return list(out.values())


def managed_names(wanted: list[Want]) -> list[str]:
    return sorted({w.name for w in wanted})
