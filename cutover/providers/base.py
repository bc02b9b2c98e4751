"""The interface every DNS host implements, and nothing more.

Small on purpose (octoDNS's split): read the managed names, apply one plan per zone atomically
and refuse on drift, wait until the host says it is served, and name the servers to verify.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DriftError
from ..records import RRset, index

if TYPE_CHECKING:
    from ..config import Environment
    from ..plan import Plan


@dataclass
class ChangeRef:
    """What `apply` hands to `wait`: the zone and the provider's own change id, if any."""

    zone: str
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """One DNS host. `env.provider.options` holds its keys from the environment file."""

    #: True when `wait` proves the change is served everywhere (Route53 INSYNC).
    reports_sync = False

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.options = env.provider.options

    @abstractmethod
    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        """Every RRset at `names` (absolute names) in `zone`, all types, all pages."""

    @abstractmethod
    def apply(self, zone: str, plan: Plan) -> ChangeRef:
        """Apply the plan as one change; raise DriftError (nothing applied) if a `before` moved."""

    def served_ttl(self, ttl: int) -> int:
        """The TTL resolvers actually get for a stored TTL (Cloudflare serves "automatic", 1,
        as 300 s); the cutover gate must wait for this, not for the stored number."""
        return ttl

    def wait(self, ref: ChangeRef) -> None:
        """Block until the provider reports the change served; most hosts cannot tell."""
        return None

    def archive(self, zone: str) -> list[RRset] | None:
        """The whole zone, for hosts configured to keep it in each snapshot; None: not kept."""
        return None

    @abstractmethod
    def nameservers(self, zone: str) -> list[str]:
        """The authoritative servers of `zone` as "host:port" strings."""

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
