"""Which class serves each `provider.type`: the Python entry point group `mailcutover.providers`.

A separate package adds a DNS host with one line in its own pyproject.toml:

    [project.entry-points."mailcutover.providers"]
    jsonfile = "my_package.provider:JsonFileProvider"

and nothing here or in config.py changes. The built-in providers are registered the same way in
our pyproject.toml; `BUILTIN` is the same table, kept so that a checkout run without installed
metadata (or a broken site-packages) still finds them, and so that an installed package cannot
take over a built-in name: a DNS write must never go to code the environment file did not mean.
A test keeps the two tables equal.

Listing the group costs a scan of installed metadata (tens of ms), so it happens only for names
that are not built in, or to list the known types in an error.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING

from ..errors import ConfigError
from . import MODULES

if TYPE_CHECKING:
    from .base import Provider

GROUP = "mailcutover.providers"

#: The built-in providers, "module:Class" as in pyproject.toml's entry points (from the
#: fallback table `cutover.providers.MODULES`).
BUILTIN: dict[str, str] = {name: f"{m}:{c}" for name, (m, c) in MODULES.items()}


def installed() -> dict[str, str]:
    """name -> "module:Class" for every entry point of the group in the installed metadata."""
    try:
        eps = metadata.entry_points(group=GROUP)
    except Exception:  # unreadable metadata must not stop a rollback on a built-in provider
        return {}
    out: dict[str, str] = {}
    for ep in eps:
        out.setdefault(ep.name, ep.value)
    return out


def known() -> dict[str, str]:
    """Every provider type: installed plugins, then the built-ins (which win on a name clash)."""
    return {**installed(), **BUILTIN}


def target(ptype: str) -> str | None:
    """ "module:Class" for `ptype`, or None when no package provides it."""
    if ptype in BUILTIN:
        return BUILTIN[ptype]
    return installed().get(ptype)


def load_class(ptype: str, where: str) -> type[Provider]:
    """The provider class for `ptype`; a missing or broken one is one line naming `where`."""
    from .base import Provider

    spec = target(ptype) if isinstance(ptype, str) else None
    if spec is None:
        names = ", ".join(sorted(known()))
        raise ConfigError(
            f"{where}: {ptype!r} is not a known provider type (known: {names})",
            f"fix provider.type, or install the package that registers {ptype!r} in the "
            f"{GROUP} entry point group",
        )
    module_name, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # a plugin's import failure, its missing dependency, a typo
        raise ConfigError(
            f"{where}: provider {ptype!r} ({spec}) cannot be loaded: {type(exc).__name__}: {exc}",
            "reinstall the package that provides it",
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, Provider)):
        raise ConfigError(
            f"{where}: provider {ptype!r} ({spec}) is not a subclass of "
            "cutover.providers.base.Provider",
            "fix the plugin's entry point",
        )
    return obj
