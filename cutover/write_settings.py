"""What a rollback needs: where it writes (provider, state, how to verify), and nothing else.

The emergency rollback must not depend on the part of the environment file someone was editing
when things went wrong. So a rollback reads only the `provider`, `state` and `validation`
sections (and each domain's `zone_id`), and when the file does not parse at all, from the copy
of those sections that every applying run keeps in the state backend (secrets are never in it:
the file only ever names the environment variables that hold them). `--state DIR` or
`--state s3://bucket/prefix` points a rollback at that copy from a fresh machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import (
    Domain,
    Environment,
    Migration,
    StateConfig,
    _Checker,
    environment_name,
    environment_path,
    load_environment,
    parse_mta_sts,
    parse_provider,
    parse_state,
    parse_validation,
    project_root,
    read_yaml,
)
from .errors import ConfigError, CutoverError
from .state import StateTarget, open_state, parse_state_spec

SECTIONS = ("provider", "state", "validation", "mta_sts")


def settings_copy(env: Environment) -> dict[str, Any]:
    """The sections a rollback needs, as the file holds them."""
    doc: dict[str, Any] = {"env": env.name}
    for key in SECTIONS:
        if key in env.raw:
            doc[key] = env.raw[key]
    doc["zone_ids"] = {d.name: d.zone_id for d in env.domains if d.zone_id}
    return doc


def from_sections(name: str, path: Path, root: Path, data: Any) -> Environment:
    """An Environment holding only what writing needs; every other section is ignored."""
    c = _Checker(path)
    data = c.mapping(data, "")
    zone_ids = dict(data.get("zone_ids") or {})
    for dname, dval in (data.get("domains") or {}).items():
        if isinstance(dval, dict) and dval.get("zone_id"):
            zone_ids[str(dname)] = dval["zone_id"]
    return Environment(
        name=name,
        path=path,
        root=root,
        provider=parse_provider(c, data),
        state=parse_state(c, data),
        migration=Migration("", "", []),
        ttl_cutover=300,
        ttl_final=3600,
        dmarc={},
        domains=[Domain(d.rstrip("."), {}, {}, {}, z) for d, z in sorted(zone_ids.items())],
        validation=parse_validation(c, data),
        lint_resolvers=[],
        raw={k: data[k] for k in SECTIONS if k in data},
        mta_sts=parse_mta_sts(c, data, None),  # where a rollback puts the policy back
    )


def _from_copy(name: str, root: Path, target: StateTarget) -> Environment | None:
    """The environment as the settings copy at `target` describes it, reading state there."""
    doc = open_state(target).load_settings()
    if not isinstance(doc, dict):
        return None
    env = from_sections(
        name, Path(f"{target.label or target.directory} (settings copy)"), root, doc
    )
    env.state = StateConfig(target.backend, dict(target.options))  # where it was found
    return env


def load_for_rollback(
    name: str | None,
    root: Path | None = None,
    state: str | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Environment:
    """The environment's write settings, from the file if it is whole, else as far as it goes."""
    root = project_root(root)
    name = environment_name(name)
    if state:
        env = _from_copy(name, root, parse_state_spec(state, name))
        if env is None:
            raise ConfigError(
                f"--state {state}: no settings copy there (written by every applying run)",
                "point --state at the state of an environment that has run a stage",
            )
        return env
    try:
        return load_environment(name, root)
    except ConfigError as broken:
        path = environment_path(root, name)
        try:
            data = read_yaml(path) if path.is_file() else None
            if isinstance(data, dict) and "provider" in data:
                env = from_sections(name, path, root, data)
                warn(f"{broken.line()}; rolling back with its provider and state sections only")
                return env
        except CutoverError:
            pass
        default = root / ".cutover" / name
        env = _from_copy(name, root, StateTarget(name, "local", {}, default, str(default)))
        if env is None:
            raise ConfigError(
                broken.message,
                "fix the file, or pass --state DIR|s3://BUCKET/PREFIX where the runs kept "
                "their state",
            ) from broken
        warn(f"{broken.line()}; rolling back with the settings copy of the last run")
        return env
