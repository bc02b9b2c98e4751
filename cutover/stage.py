"""A stage is a value: what it renders, which TTL its records get, and what gates it.

Render, lint, the gate and the journal read these fields instead of comparing stage names in
many modules, so adding or reordering a stage is one edit here. `Stage` is a `str` as well, so
code that still compares with "finalize" keeps working while it moves to the fields.
"""

from __future__ import annotations

from .errors import UsageError


class Stage(str):
    """One step of the lifecycle (the string is its name)."""

    index: int
    #: which TTL of the environment its records get: "cutover" or "final"
    ttl_source: str
    #: never raise a live TTL (lowering ahead of the switch must not lengthen what resolvers hold)
    lower_only: bool
    #: the apex MX is the new provider's from this stage on
    switches_mx: bool
    #: client records (autodiscover, SRV) are the new provider's from this stage on
    switches_client: bool
    #: the old provider's DKIM and verification go, SPF keeps only the new senders, DMARC is set
    drops_old: bool
    #: the stage that must be complete (and verified) before this one may run
    requires: str | None
    #: wait until resolvers dropped the TTLs the required stage lowered (T_old)
    waits_t_old: bool
    #: not a stage one runs: what the `from` profile renders, the state before `prepare`
    #: (`validate --stage none` gates drift before the migration starts)
    before_migration: bool = False

    def __new__(cls, name: str, index: int, **fields: object) -> Stage:
        obj = super().__new__(cls, name)
        obj.index = index
        for key, value in fields.items():
            setattr(obj, key, value)
        return obj

    @property
    def name(self) -> str:
        return str.__str__(self)

    def ttl(self, ttl_cutover: int, ttl_final: int) -> int:
        return ttl_final if self.ttl_source == "final" else ttl_cutover


PREPARE = Stage(
    "prepare",
    0,
    ttl_source="cutover",
    lower_only=True,
    switches_mx=False,
    switches_client=False,
    drops_old=False,
    requires=None,
    waits_t_old=False,
)
CUTOVER = Stage(
    "cutover",
    1,
    ttl_source="cutover",
    lower_only=True,
    switches_mx=True,
    switches_client=True,
    drops_old=False,
    requires="prepare",
    waits_t_old=True,
)
FINALIZE = Stage(
    "finalize",
    2,
    ttl_source="final",
    lower_only=False,
    switches_mx=True,
    switches_client=True,
    drops_old=True,
    requires="cutover",
    waits_t_old=False,
)

NONE = Stage(
    "none",
    -1,
    ttl_source="cutover",
    lower_only=True,
    switches_mx=False,
    switches_client=False,
    drops_old=False,
    requires=None,
    waits_t_old=False,
    before_migration=True,
)

#: the lifecycle in order; the only place that order is written down
ORDER: tuple[Stage, ...] = (PREPARE, CUTOVER, FINALIZE)
NAMES: tuple[str, ...] = tuple(s.name for s in ORDER)
_BY_NAME = {s.name: s for s in ORDER}


def get_stage(name: str | Stage, allow_none: bool = False) -> Stage:
    """The Stage called `name`; bad input names the stages there are. `allow_none`: also the
    state before the migration, for the read-only checks."""
    if allow_none and str(name) == NONE.name:
        return NONE
    found = _BY_NAME.get(str(name))
    if found is None:
        raise UsageError(f"unknown stage {name!r} (stages: {', '.join(NAMES)})")
    return found
