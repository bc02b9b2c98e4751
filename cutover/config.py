"""Load and validate `environments/<env>.yaml` into typed objects.

Every error names the file, the key path and what is allowed, in one line, because the person
reading it is often in the middle of a change window. Unknown keys are errors: a typo such as
`ttl: {cutvoer: 300}` silently ignored would lower nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import fastyaml
from .addresses import parse_address
from .errors import ConfigError
from .profiles import available_profiles
from .records import fqdn
from .state.base import PLAIN_ENV

STATE_OPTIONS: dict[str, set[str]] = {"local": {"directory"}, "s3": {"bucket", "prefix", "region"}}
DMARC_POLICIES = ("none", "quarantine", "reject")
TOP_KEYS = {
    "provider", "state", "migration", "ttl", "dmarc", "defaults", "domains", "validation", "lint",
    "probe",
}  # fmt: skip
PROBE_KEYS = {
    "recipients", "sender", "port", "require", "timeout", "in_validate", "ca_file", "hosts",
}  # fmt: skip
DOMAIN_KEYS = {"from", "to", "senders", "zone_id"}
TOP_KEYS.add("mta_sts")
MTA_STS_KEYS = {"domains", "publish", "fetch"}
MTA_STS_S3_KEYS = {"bucket", "key_prefix", "region", "endpoint_url"}
MTA_STS_FETCH_KEYS = {"connect", "ca_file", "timeout", "wait"}


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
class Probe:
    """The SMTP probe (cutover/probe/): who it asks for, and whether the cutover waits on it.

    `recipients` maps a domain to its probe addresses; a domain not in it gets `defaults`. An
    entry without `@` is a local part of the domain (postmaster by default: RFC 5321 requires
    every domain to accept it). `hosts` maps an MX host to loopback `host:port` addresses (or
    `embedded`, the demo's stand-in) in place of its A/AAAA: only the demo and tests use it."""

    recipients: dict[str, list[str]] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=lambda: ["postmaster"])
    sender: str = ""
    port: int = 25
    require: bool = False
    timeout: int = 10
    in_validate: bool = False
    ca_file: Path | None = None
    hosts: dict[str, list[str]] = field(default_factory=dict)

    def recipients_for(self, domain: str) -> list[str]:
        entries = self.recipients.get(domain, self.defaults)
        return [e if "@" in e else f"{e}@{domain}" for e in entries]


@dataclass
class MtaSts:
    """`mta_sts`: the domains whose policy file the stages manage, where it is published
    (`publish`: "directory" or "s3", with its options), and how the served one is fetched."""

    domains: list[str]
    publish: str
    publish_options: dict[str, Any]
    connect: str | None = None
    ca_file: str | None = None
    timeout: int = 10
    #: seconds a stage waits for the web server to serve a newly published policy before the
    #: zone write changes the `_mta-sts` id (0: trust the publish target's read-back alone)
    wait: int = 60

    def manages(self, domain: str) -> bool:
        return domain.rstrip(".").lower() in self.domains


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


def parse_mta_sts(c: _Checker, data: dict, known: list[str] | None) -> MtaSts | None:
    """The `mta_sts` section (None without one). `known`: the file's domains, which
    `mta_sts.domains` must name (None when a rollback reads only the write settings)."""
    if data.get("mta_sts") is None:
        return None
    sts = c.mapping(data["mta_sts"], "mta_sts", MTA_STS_KEYS)
    if "domains" in sts:
        domains = [
            fqdn(d).rstrip(".").lower() for d in c.strings(sts["domains"], "mta_sts.domains")
        ]
    else:
        domains = list(known or [])
    for i, d in enumerate(domains):
        if known is not None and d not in known:
            raise c.fail(f"mta_sts.domains[{i}]", f"{d} is not a domain of this file")
    pub = c.mapping(sts.get("publish"), "mta_sts.publish", {"directory", "s3"})
    if len(pub) != 1:
        raise c.fail("mta_sts.publish", "needs exactly one of directory: PATH or s3: {bucket: ...}")
    kind = next(iter(pub))
    if kind == "directory":
        if not isinstance(pub["directory"], str) or not pub["directory"]:
            raise c.fail("mta_sts.publish.directory", f"must be a path, got {pub['directory']!r}")
        options: dict[str, Any] = {"directory": pub["directory"]}
    else:
        options = dict(c.mapping(pub["s3"], "mta_sts.publish.s3", MTA_STS_S3_KEYS))
        for key, value in options.items():
            if not isinstance(value, str):
                raise c.fail(f"mta_sts.publish.s3.{key}", f"must be a string, got {value!r}")
        if not options.get("bucket"):
            raise c.fail("mta_sts.publish.s3.bucket", "is required")
    fetch = c.mapping(sts.get("fetch"), "mta_sts.fetch", MTA_STS_FETCH_KEYS)
    connect = fetch.get("connect")
    if connect is not None:
        try:
            parse_address(str(connect), 443)
        except ValueError as exc:
            raise c.fail("mta_sts.fetch.connect", str(exc)) from exc
    ca_file = fetch.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise c.fail("mta_sts.fetch.ca_file", f"must be a path, got {ca_file!r}")
    return MtaSts(
        domains=domains,
        publish=kind,
        publish_options=options,
        connect=connect,
        ca_file=ca_file,
        timeout=c.integer(fetch.get("timeout", 10), "mta_sts.fetch.timeout", 1, 300),
        wait=c.integer(fetch.get("wait", 60), "mta_sts.fetch.wait", 0, 3600),
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


def parse_probe(c: _Checker, data: dict, root: Path, domains: list[str]) -> Probe:
    """The `probe:` section; every error is one line naming the key."""
    raw = c.mapping(data.get("probe"), "probe", PROBE_KEYS)
    probe = Probe()
    given = raw.get("recipients")
    if isinstance(given, list):
        probe.defaults = _mailboxes(c, given, "probe.recipients")
    elif given is not None:
        for dname, entries in c.mapping(given, "probe.recipients").items():
            key = f"probe.recipients.{dname}"
            name = fqdn(str(dname)).rstrip(".")
            if name not in domains:
                raise c.fail(key, f"not a domain of this environment ({', '.join(domains)})")
            probe.recipients[name] = _mailboxes(c, entries, key)
    sender = raw.get("sender", "")
    if not isinstance(sender, str) or (sender and not _MAILBOX.fullmatch(sender)):
        raise c.fail("probe.sender", f"must be an address like probe@example.com or '', got {sender!r}")  # fmt: skip
    probe.sender = sender
    probe.port = c.integer(raw.get("port", 25), "probe.port", 1, 65535)
    probe.timeout = c.integer(raw.get("timeout", 10), "probe.timeout", 1, 300)
    for flag in ("require", "in_validate"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise c.fail(f"probe.{flag}", f"must be true or false, got {value!r}")
        setattr(probe, flag, value)
    if raw.get("ca_file") is not None:
        ca = root / str(raw["ca_file"])
        if not ca.is_file():
            raise c.fail("probe.ca_file", f"no file {ca}")
        probe.ca_file = ca
    for host, given in c.mapping(raw.get("hosts"), "probe.hosts").items():
        key = f"probe.hosts.{host}"
        targets = given if isinstance(given, list) else [given]
        for target in targets:
            if target != "embedded" and not _loopback(str(target)):
                raise c.fail(key, f"must be `embedded` or loopback host:port addresses (tests and the demo only), got {target!r}")  # fmt: skip
        probe.hosts[fqdn(str(host)).rstrip(".").lower()] = [str(t) for t in targets]
    return probe


_MAILBOX = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def _mailboxes(c: _Checker, value: Any, key: str) -> list[str]:
    entries = c.strings(value, key)
    for i, entry in enumerate(entries):
        if not entry or ("@" in entry and not _MAILBOX.fullmatch(entry)) or " " in entry:
            raise c.fail(f"{key}[{i}]", f"{entry!r} is not an address or a local part")
    return entries


def _loopback(text: str) -> bool:
    import ipaddress

    try:
        host, _port = parse_address(text, default_port=0)
        return _port > 0 and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
