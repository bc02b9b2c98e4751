"""What a provider declares besides its methods: its option schema and its capabilities.

Both are plain data on the provider class, so the environment file's `provider:` block is
checked (one line naming `provider.<key>`, exit 2) before any provider is built, by the same
code for every provider, built-in or plugin. Nothing here imports an SDK: a provider module
imports boto3 or the Cloudflare SDK only inside its methods, so reading a schema stays cheap.

A schema is a dict `{option name: Opt}`; the `Opt` kinds below cover what DNS hosts need
(strings, paths, integers and numbers with ranges, real booleans, choices, addresses, nested
mappings). A YAML `null` counts as "not given", as an absent key does.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..addresses import parse_address
from ..errors import ConfigError


class Checker(Protocol):
    """The part of config's `_Checker` the schema uses (its one-line error format)."""

    def fail(self, key: str, message: str) -> ConfigError: ...


@dataclass(frozen=True)
class Capabilities:
    """What the rest of the tool may assume about a DNS host.

    `drift_check`: "precondition" when the host itself refuses a write whose `before` moved
    (Route53 DELETE values, RFC 2136 prerequisites), "reread" when the provider reads the
    touched RRsets right before writing (zone files, Cloudflare, API hosts with no condition).
    `ttl_floor`: the smallest TTL the host stores (besides `auto_ttl`); `auto_ttl`: the stored
    value meaning "automatic" (Cloudflare 1) and `auto_ttl_served` what resolvers then get.
    """

    atomic_per_zone: bool
    drift_check: Literal["precondition", "reread"]
    reports_sync: bool = False
    ttl_floor: int = 1
    auto_ttl: int | None = None
    auto_ttl_served: int | None = None


# ---------------------------------------------------------------- option kinds


@dataclass(frozen=True)
class Opt:
    """One option. `required`: an error names it when absent; `example` goes in that error."""

    required: bool = False
    example: str = ""
    doc: str = ""

    def check(self, c: Checker, value: Any, key: str) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Opt):
    """A non-empty string."""

    def check(self, c: Checker, value: Any, key: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise c.fail(key, f"must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class FilePath(Text):
    """A path, relative to the project root (checked as a non-empty string)."""

    def check(self, c: Checker, value: Any, key: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise c.fail(key, f"must be a path, got {value!r}")


@dataclass(frozen=True)
class Boolean(Opt):
    """true or false: a quoted "false" would be truthy in Python, so it is refused."""

    def check(self, c: Checker, value: Any, key: str) -> None:
        if not isinstance(value, bool):
            raise c.fail(key, f"must be true or false (unquoted), got {value!r}")


@dataclass(frozen=True)
class Integer(Opt):
    low: int = 0
    high: int = 2**31 - 1

    def check(self, c: Checker, value: Any, key: str) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.low <= value <= self.high
        ):
            raise c.fail(key, f"must be an integer from {self.low} to {self.high}, got {value!r}")


@dataclass(frozen=True)
class Seconds(Opt):
    """A number of seconds above `above`, at most `high` when given (int or float)."""

    above: float = 0
    high: float | None = None

    def check(self, c: Checker, value: Any, key: str) -> None:
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if number and value > self.above and (self.high is None or value <= self.high):
            return
        span = f"from {self.above:g} to {self.high:g}" if self.high else f"above {self.above:g}"
        raise c.fail(key, f"must be a number of seconds {span}, got {value!r}")


@dataclass(frozen=True)
class Choice(Opt):
    """One of `values`; `normalize` folds spelling first (e.g. case) when the host does."""

    values: tuple[str, ...] = ()
    normalize: Callable[[Any], Any] | None = None

    def check(self, c: Checker, value: Any, key: str) -> None:
        folded = self.normalize(value) if self.normalize else value
        if folded not in self.values:
            raise c.fail(key, f"{value!r} is not allowed (allowed: {', '.join(self.values)})")


@dataclass(frozen=True)
class Address(Opt):
    """`host`, `host:port` or `[v6]:port`."""

    def check(self, c: Checker, value: Any, key: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise c.fail(key, f'must be an address ("host:port"), got {value!r}')
        try:
            parse_address(value)
        except ValueError as exc:
            raise c.fail(key, str(exc)) from None


@dataclass(frozen=True)
class Addresses(Opt):
    """A list of addresses; the error names the bad item (`provider.nameservers[1]`)."""

    def check(self, c: Checker, value: Any, key: str) -> None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise c.fail(key, 'must be a list of "host:port" strings')
        for i, item in enumerate(value):
            try:
                parse_address(item)
            except ValueError as exc:
                raise c.fail(f"{key}[{i}]", str(exc)) from None


@dataclass(frozen=True)
class Mapping(Opt):
    """A nested mapping with its own schema; `fields=None` takes any string keys (options
    handed through to another library as they are)."""

    fields: dict[str, Opt] | None = field(default=None, hash=False)
    unknown_hint: str = ""  # what to do about an unknown key, when there is more to say

    def check(self, c: Checker, value: Any, key: str) -> None:
        if not isinstance(value, MappingABC):
            raise c.fail(key, f"must be a mapping, got {type(value).__name__}")
        if self.fields is None:
            for k in value:
                if not isinstance(k, str):
                    raise c.fail(f"{key}.{k}", "keys must be strings")
            return
        check_mapping(c, self.fields, value, key, unknown_hint=self.unknown_hint)


Schema = dict[str, Opt]


def check_mapping(
    c: Checker, schema: Schema, values: MappingABC, key: str, what: str = "", unknown_hint: str = ""
) -> None:
    """Every key known, every required key present, every value of its kind; the first problem
    is raised as one line naming `key.<option>`."""
    for k in values:
        if k not in schema:
            allowed = ", ".join(sorted(schema)) or "none"
            error = c.fail(f"{key}.{k}", f"unknown key (allowed: {allowed})")
            error.hint = unknown_hint or error.hint
            raise error
    for name, opt in schema.items():
        value = values.get(name)
        where = f"{key}.{name}"
        if value is None:
            if opt.required:
                example = f" (e.g. {opt.example})" if opt.example else ""
                raise c.fail(where, f"is required{what}{example}")
            continue
        opt.check(c, value, where)


def check_options(c: Checker, ptype: str, schema: Schema, options: MappingABC) -> None:
    """The `provider:` block of an environment file (without `type`) against a schema."""
    check_mapping(c, schema, options, "provider", f" for the {ptype} provider")
