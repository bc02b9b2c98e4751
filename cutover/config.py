"""Load and validate `environments/<env>.yaml` into typed objects.

Every error names the file, the key path and what is allowed, in one line, because the person
reading it is often in the middle of a change window. Unknown keys are errors: a typo such as
`ttl: {cutvoer: 300}` silently ignored would lower nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import fastyaml
from .addresses import parse_address
from .errors import ConfigError
from .mtasts.settings import MtaSts, parse_mta_sts
from .probe.settings import Probe, parse_probe
from .profiles import available_profiles
from .records import fqdn
from .state.base import PLAIN_ENV

STATE_OPTIONS: dict[str, set[str]] = {"local": {"directory"}, "s3": {"bucket", "prefix", "region"}}
DMARC_POLICIES = ("none", "quarantine", "reject")
TOP_KEYS = {
    "provider", "state", "migration", "ttl", "dmarc", "defaults", "domains", "validation", "lint",
    "probe", "mta_sts",
}  # fmt: skip
DOMAIN_KEYS = {"from", "to", "senders", "zone_id"}


@dataclass
class ProviderConfig:
    type: str
    options: dict[str, Any]


@dataclass
class StateConfig:
    backend: str
    options: dict[str, Any]


@dataclass
class Migration:
    from_profile: str
    to_profile: str
    keep_spf: list[str]


@dataclass
class Domain:
    name: str
    from_inputs: dict[str, Any]
    to_inputs: dict[str, Any]
    senders: dict[str, dict[str, Any]]
    zone_id: str | None = None


@dataclass
class Validation:
    nameservers: str | list[str] = "auto"
    resolvers: list[str] = field(default_factory=list)
    require_resolvers: bool = False
    timeout: int = 600


@dataclass
class Environment:
    name: str
    path: Path
    root: Path
    provider: ProviderConfig
    state: StateConfig
    migration: Migration
    ttl_cutover: int
    ttl_final: int
    dmarc: dict[str, Any]
    domains: list[Domain]
    validation: Validation
    lint_resolvers: list[str]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    probe: Probe = field(default_factory=Probe)
    mta_sts: MtaSts | None = None

    @property
    def state_dir(self) -> Path:
        given = self.state.options.get("directory")
        return self.root / given if given else self.root / ".cutover" / self.name

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise ConfigError(f"{self.path}: no domain {name!r} in domains")


class _Checker:
    """Small helper so each check reads as one line and errors share one format."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        return ConfigError(where + message, "fix the environment file and run again")

    def mapping(self, value: Any, key: str, allowed: set[str] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        if allowed is not None:
            for k in value:
                if k not in allowed:
                    raise self.fail(
                        f"{key}.{k}" if key else str(k),
                        f"unknown key (allowed: {', '.join(sorted(allowed))})",
                    )
        return value

    def choice(self, value: Any, key: str, allowed: list[str] | tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(key, f"{value!r} is not allowed (allowed: {', '.join(allowed)})")
        return value

    def integer(self, value: Any, key: str, low: int = 0, high: int = 2**31 - 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be an integer from {low} to {high}, got {value!r}")
        return value

    def strings(self, value: Any, key: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings")
        return value

    def addresses(self, value: Any, key: str) -> list[str]:
        """host / host:port / [v6]:port; `embedded` names the zone-file provider's own server."""
        out = self.strings(value, key)
        for i, addr in enumerate(out):
            if addr == "embedded":
                continue
            try:
                parse_address(addr)
            except ValueError as exc:
                raise self.fail(f"{key}[{i}]", str(exc)) from exc
        return out


def only_domains(env: Environment, names: list[str]) -> Environment:
    """The environment limited to `names` (`--domain`, for the read-only tasks)."""
    if not names:
        return env
    known = {d.name for d in env.domains}
    wanted = [fqdn(n).rstrip(".") for n in names]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(
            f"--domain {unknown[0]}: not a domain of {env.path}",
            f"domains: {', '.join(sorted(known))}",
        )
    env.domains = [d for d in env.domains if d.name in wanted]
    return env


def environment_path(root: Path, name: str) -> Path:
    return root / "environments" / f"{name}.yaml"


def environment_name(name: str | None) -> str:
    """The environment's name: plain, so `--env ../environments/t` cannot run beside `--env t`
    on a second lock and state directory."""
    name = name or os.environ.get("CUTOVER_ENV")
    if not name:
        raise ConfigError("no environment given", "pass --env NAME or set CUTOVER_ENV")
    if not PLAIN_ENV.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"environment name {name!r} is not a plain name (letters, digits, _ . -)",
            "pass the name of a file in environments/ without its path or .yaml",
        )
    return name


def read_yaml(path: Path) -> Any:
    """The parsed file; a syntax error is one line with the file, line and column."""
    try:
        return fastyaml.load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})", "fix the file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", "fix the file") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}", "fix the file") from exc


def project_root(root: Path | str | None = None) -> Path:
    """The infrastructure repo: `--root`/$CUTOVER_ROOT, else the nearest folder upwards from
    the working directory that has `environments/` (so the tool runs from any subfolder)."""
    given = root or os.environ.get("CUTOVER_ROOT")
    if given:
        return Path(given).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "environments").is_dir():
            return folder
    return here


def load_environment(name: str | None, root: Path | None = None) -> Environment:
    """Read and validate one environment; raises ConfigError with a one-line message."""
    root = project_root(root)
    name = environment_name(name)
    path = environment_path(root, name)
    if not path.is_file():
        known = sorted(p.stem for p in (root / "environments").glob("*.yaml"))
        raise ConfigError(
            f"no environment file {path}",
            f"known environments: {', '.join(known) or 'none'}",
        )
    return parse_environment(name, path, root, read_yaml(path))


def parse_provider(c: _Checker, data: dict) -> ProviderConfig:
    """`provider:` checked against the option schema its class declares (providers/contract.py);
    the class is found by type through the `mailcutover.providers` entry points."""
    from .providers import provider_class
    from .providers.contract import check_options

    if "provider" not in data:
        raise c.fail("provider", "is required")
    prov = c.mapping(data["provider"], "provider")
    ptype = prov.get("type")
    cls = provider_class(ptype, f"{c.path}: provider.type")
    options = {k: v for k, v in prov.items() if k != "type"}
    check_options(c, ptype, cls.options_schema, options)
    return ProviderConfig(ptype, options)


def parse_state(c: _Checker, data: dict) -> StateConfig:
    st = c.mapping(data.get("state"), "state")
    backend = c.choice(st.get("backend", "local"), "state.backend", list(STATE_OPTIONS))
    c.mapping(st, "state", STATE_OPTIONS[backend] | {"backend"})
    if backend == "s3" and not st.get("bucket"):
        raise c.fail("state.bucket", "is required for the s3 backend")
    if "directory" in st and not isinstance(st["directory"], str):
        raise c.fail("state.directory", f"must be a path, got {st['directory']!r}")
    return StateConfig(backend, {k: v for k, v in st.items() if k != "backend"})


def parse_validation(c: _Checker, data: dict) -> Validation:
    val = c.mapping(
        data.get("validation"),
        "validation",
        {"nameservers", "resolvers", "require_resolvers", "timeout"},
    )
    ns = val.get("nameservers", "auto")
    if isinstance(ns, str):
        c.choice(ns, "validation.nameservers", ["auto", "none"])
    else:
        ns = c.addresses(ns, "validation.nameservers")
    return Validation(
        nameservers=ns,
        resolvers=c.addresses(val.get("resolvers"), "validation.resolvers"),
        require_resolvers=bool(val.get("require_resolvers", False)),
        timeout=c.integer(val.get("timeout", 600), "validation.timeout", 1, 86400),
    )


def parse_environment(name: str, path: Path, root: Path, data: Any) -> Environment:
    c = _Checker(path)
    data = c.mapping(data, "", TOP_KEYS)
    for required in ("provider", "migration", "domains"):
        if required not in data:
            raise c.fail(required, "is required")
    provider = parse_provider(c, data)
    state = parse_state(c, data)

    mig = c.mapping(data["migration"], "migration", {"from", "to", "keep_spf"})
    profiles = available_profiles(root)
    for role in ("from", "to"):
        if role not in mig:
            raise c.fail(f"migration.{role}", "is required")
        c.choice(mig[role], f"migration.{role}", sorted(profiles))
    migration = Migration(
        mig["from"], mig["to"], c.strings(mig.get("keep_spf"), "migration.keep_spf")
    )

    ttl = c.mapping(data.get("ttl"), "ttl", {"cutover", "final"})
    ttl_cutover = c.integer(ttl.get("cutover", 300), "ttl.cutover", 1, 604800)
    ttl_final = c.integer(ttl.get("final", 3600), "ttl.final", 1, 604800)

    dmarc = c.mapping(
        data.get("dmarc"), "dmarc", {"policy", "rua", "ruf", "sp", "adkim", "aspf", "fo", "np"}
    )
    c.choice(dmarc.setdefault("policy", "none"), "dmarc.policy", DMARC_POLICIES)

    defaults = c.mapping(data.get("defaults"), "defaults", {"from", "to", "senders"})
    domains_raw = c.mapping(data["domains"], "domains")
    if not domains_raw:
        raise c.fail("domains", "lists no domain")
    domains = [_parse_domain(c, dname, dval, defaults) for dname, dval in domains_raw.items()]

    validation = parse_validation(c, data)
    lint = c.mapping(data.get("lint"), "lint", {"resolvers"})
    return Environment(
        name=name,
        path=path,
        root=root,
        provider=provider,
        state=state,
        migration=migration,
        ttl_cutover=ttl_cutover,
        ttl_final=ttl_final,
        dmarc=dmarc,
        domains=domains,
        validation=validation,
        lint_resolvers=c.addresses(lint.get("resolvers"), "lint.resolvers"),
        raw=data,
        probe=parse_probe(c, data, root, [d.name for d in domains]),
        mta_sts=parse_mta_sts(c, data, [d.name.lower() for d in domains]),
    )


def _parse_domain(c: _Checker, dname: Any, dval: Any, defaults: dict) -> Domain:
    if not isinstance(dname, str) or "." not in dname.strip("."):
        raise c.fail(f"domains.{dname}", "is not a domain name")
    key = f"domains.{dname}"
    dval = c.mapping(dval, key, DOMAIN_KEYS)
    inputs = {}
    for role in ("from", "to"):
        base = dict(c.mapping(defaults.get(role), f"defaults.{role}"))
        base.update(c.mapping(dval.get(role), f"{key}.{role}"))
        inputs[role] = base
    senders = dict(c.mapping(defaults.get("senders"), "defaults.senders"))
    senders.update(c.mapping(dval.get("senders"), f"{key}.senders"))
    for sname, sval in senders.items():
        c.mapping(sval, f"{key}.senders.{sname}")
        senders[sname] = sval or {}
    return Domain(
        name=fqdn(dname).rstrip("."),
        from_inputs=inputs["from"],
        to_inputs=inputs["to"],
        senders=senders,
        zone_id=dval.get("zone_id"),
    )
