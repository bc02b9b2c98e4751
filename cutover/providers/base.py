"""The interface every DNS host implements, and nothing more.

Small on purpose (octoDNS's split): read the managed names, apply one plan per zone atomically
and refuse on drift, wait until the host says it is served, and name the servers to verify.
A provider that writes a zone in several calls may also accept `on_step` in `apply` (see
`StepCallback`) to have each intermediate write journaled. Besides the methods, each class
declares data (contract.py): `options_schema`, checked when the environment file is loaded, and
`capabilities`, what the rest of the tool may assume.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import DriftError
from ..records import RRset, index
from .contract import Capabilities, Schema

if TYPE_CHECKING:
    from ..config import Environment
    from ..plan import Plan


#: `on_step(note, rrsets)`: what a provider that writes one zone in several calls reports after
#: each intermediate write, before the next: a short note ("MX union written") and the RRsets at
#: the keys that write touched, as the zone now holds them (None: deleted). The pipeline
#: journals it (`zone_step`) before returning, so a run that dies before the next write is
#: known to have written the zone, and rollback counts those RRsets as the run's write.
StepCallback = Callable[[str, Mapping[tuple[str, str], RRset | None]], None]


def accepts_steps(provider: Provider) -> bool:
    """Whether `provider.apply` takes the `on_step` keyword (an optional part of the contract:
    plugins written before it keep their two-argument `apply`)."""
    try:
        return "on_step" in inspect.signature(provider.apply).parameters
    except (TypeError, ValueError):
        return False


@dataclass
class ChangeRef:
    """What `apply` hands to `wait`: the zone and the provider's own change id, if any."""

    zone: str
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """One DNS host. `env.provider.options` holds its keys from the environment file, already
    checked against `options_schema` (unknown keys, types, ranges, required keys)."""

    #: The `provider:` keys besides `type`; config checks them before the class is built.
    options_schema: ClassVar[Schema] = {}
    #: The cautious default: not atomic, drift found by reading again before writing.
    capabilities: ClassVar[Capabilities] = Capabilities(atomic_per_zone=False, drift_check="reread")

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.options = env.provider.options

    @abstractmethod
    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        """Every RRset at `names` (absolute names) in `zone`, all types, all pages."""

    @abstractmethod
    def apply(self, zone: str, plan: Plan) -> ChangeRef:
        """Apply the plan as one change; raise DriftError (nothing applied) if a `before` moved.

        A provider that cannot (the octoDNS bridge's MX union, then the final set) declares
        `apply(self, zone, plan, *, on_step=None)` and calls `on_step` after each intermediate
        write (see `StepCallback`)."""

    @property
    def reports_sync(self) -> bool:
        """True when `wait` proves the change is served everywhere (Route53 INSYNC)."""
        return self.capabilities.reports_sync

    def served_ttl(self, ttl: int) -> int:
        """The TTL resolvers actually get for a stored TTL (Cloudflare serves "automatic", 1,
        as 300 s); the cutover gate must wait for this, not for the stored number."""
        caps = self.capabilities
        if caps.auto_ttl is not None and ttl == caps.auto_ttl and caps.auto_ttl_served:
            return caps.auto_ttl_served
        return ttl

    def wait(self, ref: ChangeRef) -> None:
        """Block until the provider reports the change served; most hosts cannot tell."""
        return None

    def check_plan(self, zone: str, plan: Plan) -> None:
        """Raise (a one-line UsageError) when `plan` is one this host can never apply, such as a
        zone-file RRset that comes from an `$INCLUDE`; called before the snapshot and `began`,
        so such a run stops with nothing journaled. Most hosts can apply any plan."""
        return None

    def source_text(self, zone: str, rrsets: list[RRset]) -> list[dict[str, Any]]:
        """How the host writes `rrsets` (which the run deletes), kept in the snapshot so that a
        rollback can write them back the same way (zone files: their lines and place). Only
        the host that wrote an item reads it again (`plan.sources`); [] keeps nothing."""
        return []

    def remove_stale_temps(self, zones: list[str]) -> list[str]:
        """Remove temporary files a killed write left next to `zones` (the caller holds the
        environment's lock); where they were. Hosts reached over an API leave none."""
        return []

    def archive(self, zone: str) -> list[RRset] | None:
        """The whole zone, for hosts configured to keep it in each snapshot; None: not kept."""
        return None

    @abstractmethod
    def nameservers(self, zone: str) -> list[str]:
        """The authoritative servers of `zone` as "host:port" strings: what verification asks
        (with `validation.nameservers: auto`); [] lets it look the zone's NS up instead."""

    def local_resolver(self) -> str | None:
        """A "host:port" this provider itself answers on for every name it knows, outside names
        included (the zone-file provider's embedded server with the demo's stand-in zones): what
        `embedded` means in `validation.resolvers` and `lint.resolvers`. None: it has none."""
        return None

    def close(self) -> None:
        """Release sockets, servers, sessions."""
        return None


def check_drift(zone: str, plan: Plan, live: Iterable[RRset]) -> None:
    """Raise DriftError unless every RRset the plan touches is still what it was planned against.

    For hosts with no server-side precondition (zone files, Cloudflare) this is the check made
    right before writing; hosts with one (Route53 DELETE, RFC 2136 prerequisites) let the server
    do it atomically instead.
    """
    now = index(live)
    for change in plan.changes:
        if now.get(change.key) != change.before:
            raise DriftError(
                f"{zone}: {change.key[0]} {change.key[1]} changed since the plan was made; "
                "nothing was applied",
                "run plan again and review the new diff",
            )
