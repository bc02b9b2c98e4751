"""The octoDNS bridge's options, and `env/NAME` secrets resolved the way octoDNS resolves them.

`provider: {type: octodns, class: octodns_powerdns.PowerDnsProvider, options: {...}}`:
`options` are the octoDNS provider's own keyword arguments, exactly as in an octoDNS config.
A string `env/NAME` (or `env/NAME/default`) is read from the environment variable NAME when the
provider is built, and numbers are converted as octoDNS does; the resolved value lives only in
memory (the settings copy keeps the file's `env/NAME`), and errors name the variable, never a
value.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from ..addresses import format_address, parse_address
from ..errors import ConfigError

MX_UPDATES = ("two-step", "atomic")


@dataclass
class Settings:
    cls: type
    class_name: str
    kwargs: dict[str, Any] = field(repr=False)
    secrets: list[str] = field(repr=False)
    nameservers: list[str]
    mx_update: str


def _env_value(name: str) -> tuple[Any, bool]:
    """octoDNS's EnvironSecrets.fetch, minus its logging: (value, came from the environment)."""
    default = None
    if "/" in name:
        name, default = name.split("/", 1)
    if name in os.environ:
        v: Any = os.environ[name]
        found = True
    elif default is not None:
        v, found = default, False
    else:
        raise KeyError(name)
    with contextlib.suppress(ValueError):
        v = float(v) if "." in v else int(v)
    return v, found


def resolve_secrets(value: Any, key: str, fail, secrets: list[str]) -> Any:
    """`value` with every `env/NAME` string replaced by the variable's value (recursively)."""
    if isinstance(value, dict):
        return {k: resolve_secrets(v, f"{key}.{k}", fail, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v, f"{key}[{i}]", fail, secrets) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("env/"):
        try:
            resolved, found = _env_value(value[4:])
        except KeyError as exc:
            raise fail(
                key,
                f"environment variable {exc.args[0]} is not set",
                f"export {exc.args[0]} (the value is never written to the environment file)",
            ) from None
        if found and str(resolved):
            secrets.append(str(resolved))
        return resolved
    return value


def load_class(dotted: Any, fail) -> type:
    if not isinstance(dotted, str) or "." not in dotted:
        raise fail("class", "is required: the dotted class of an octoDNS provider "
                   "(e.g. octodns_powerdns.PowerDnsProvider)")  # fmt: skip
    try:
        from octodns.provider.base import BaseProvider
    except ImportError as exc:
        raise fail(
            "class", f"needs the octodns package ({exc})", "pip install 'mailcutover[octodns]'"
        ) from exc
    module_name, class_name = dotted.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise fail(
            "class", f"cannot import {module_name}: {exc}", f"pip install the package of {dotted}"
        ) from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, BaseProvider):
        raise fail("class", f"{dotted} is not an octoDNS provider class")
    return cls


def parse_settings(path: Any, options: dict[str, Any]) -> Settings:
    """Validate the octodns options; every error names the file and the key (exit 2)."""

    def fail(key: str, message: str, hint: str = "fix the environment file and run again"):
        return ConfigError(f"{path}: provider.{key}: {message}", hint)

    cls = load_class(options.get("class"), fail)
    raw = options.get("options") or {}
    if not isinstance(raw, dict):
        raise fail("options", f"must be a mapping, got {type(raw).__name__}")
    if "id" in raw:
        raise fail("options.id", "is set by the tool; remove it")
    secrets: list[str] = []
    kwargs = {str(k): resolve_secrets(v, f"options.{k}", fail, secrets) for k, v in raw.items()}

    nameservers = options.get("nameservers") or []
    if not isinstance(nameservers, list) or not all(isinstance(n, str) for n in nameservers):
        raise fail("nameservers", 'must be a list of "host:port" strings')
    out = []
    for i, ns in enumerate(nameservers):
        try:
            out.append(format_address(*parse_address(ns)))
        except ValueError as exc:
            raise fail(f"nameservers[{i}]", str(exc)) from exc

    mx_update = options.get("mx_update", "two-step")
    if mx_update not in MX_UPDATES:
        raise fail("mx_update", f"{mx_update!r} is not allowed (allowed: {', '.join(MX_UPDATES)})")
    return Settings(cls, options["class"], kwargs, secrets, out, mx_update)
