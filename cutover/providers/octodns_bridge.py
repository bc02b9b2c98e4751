"""Any DNS host octoDNS reaches, through its provider interface (`populate`, `plan`, `apply`).

Why it looks the way it does:

- The desired zone is the zone as the octoDNS provider populates it, with only our RRsets
  changed. Records we do not own are the very objects octoDNS read, so octoDNS sees no change in
  them; then the octoDNS plan is checked before it is applied: every change must be at a key this
  run changes and must be exactly our `after` (TXT compared on the joined text: octoDNS re-splits
  strings at 255 bytes). Anything else (a delete or an edit of a record we do not own, a zone
  setting) refuses the run with nothing applied.
- Records octoDNS or the provider does not model are left out of the desired zone (octoDNS never
  deletes what its target does not support) and make the run refuse when they sit at a name the
  run changes: a type the provider cannot write back, a dynamic (geo, LUA) record.
- No octoDNS provider has a write precondition, so the touched RRsets are compared with each
  `before` right before the write, on the very records octoDNS planned against (`plan.existing`),
  like the Cloudflare provider; the write is read back.
- Many octoDNS providers update an RRset by deleting and creating records. With `mx_update:
  two-step` (the default) an MX change is made in two applies inside this one `apply()`: first
  the union of old and new MX values, then the new set with everything else. A run that dies in
  between leaves the union (mail still delivered to both). The union is reported through
  `on_step` once written, so the journal holds it as a `zone_step` and rollback restores the
  old MX from it (`undo.halfway` covers older journals and a kill before that line).
  `mx_update: atomic` sends one apply, for hosts that swap an RRset in one call (PowerDNS's
  PATCH, Azure's record-set PUT, Google's change). The union step cannot help a provider whose
  `_apply_Update` deletes the whole RRset and then creates the new one (several octoDNS
  providers do): no order of octoDNS applies closes that gap (README).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError, CutoverError, DriftError, ProviderError
from ..records import RRset, fqdn
from ..signals import pause
from .base import ChangeRef, Provider, StepCallback
from .contract import Addresses, Capabilities, Choice, Mapping, Text
from .octodns_options import MX_UPDATES, parse_settings
from .octodns_records import enable_validators, key_of, to_record, to_rrset

PROVIDER_ID = "cutover"
Key = tuple[str, str]


def mx_steps(changes: Iterable[Any], mx_update: str) -> list[dict[Key, RRset | None]]:
    """The applies that take the zone to every `after`: one, or the MX union first."""
    changes = list(changes)
    final = {c.key: c.after for c in changes}
    if mx_update == "atomic":
        return [final]
    for c in changes:
        if c.key[1] != "MX" or c.before is None or c.after is None:
            continue
        old, new = c.before.value_keys(), c.after.value_keys()
        if old | new not in (old, new):  # both values come and go: the swap needs a union
            union = RRset(c.after.name, "MX", c.after.ttl, c.before.values + c.after.values)
            return [{c.key: union}, final]
    return [final]


class OctoDNSProvider(Provider):
    """Options: `class` (dotted octoDNS provider class), `options` (its keyword arguments;
    `env/NAME` read from the environment), `nameservers` (what to verify against; default: the
    zone's NS at port 53), `mx_update` (two-step | atomic)."""

    options_schema = {
        "class": Text(required=True, example="octodns_powerdns.PowerDnsProvider"),
        "options": Mapping(doc="the octoDNS provider's keyword arguments; env/NAME for secrets"),
        "nameservers": Addresses(doc="what to verify against"),
        "mx_update": Choice(values=MX_UPDATES, doc="two-step (default) or atomic"),
    }
    # two octoDNS applies per zone with mx_update: two-step; the touched RRsets re-read first
    capabilities = Capabilities(atomic_per_zone=False, drift_check="reread")

    def __init__(self, env) -> None:
        super().__init__(env)
        self.settings = parse_settings(env.path, dict(self.options))
        enable_validators()
        self.label = self.settings.class_name
        try:
            self.octo = self.settings.cls(PROVIDER_ID, **self.settings.kwargs)
        except Exception as exc:  # noqa: BLE001 - any constructor refusal is a config error
            raise ConfigError(
                f"{env.path}: provider.options: {self.label} refused them: "
                f"{self._scrub(f'{type(exc).__name__}: {exc}')}",
                "fix the environment file and run again",
            ) from None

    # ------------------------------------------------------------------ helpers

    def _scrub(self, text: str) -> str:
        """An error text with every resolved secret blanked (some SDKs echo URLs or headers)."""
        for secret in self.settings.secrets:
            text = text.replace(secret, "***")
        return text

    def _call(self, zone: str, what: str, fn: Callable[[], Any], written: bool = False) -> Any:
        """Run one octoDNS call; its errors become one line with exit 3 and no secret."""
        try:
            return fn()
        except CutoverError:
            raise
        except Exception as exc:  # noqa: BLE001 - octoDNS and SDK errors have no common base
            raise ProviderError(
                f"{zone}: {self.label} {what} failed: "
                f"{self._scrub(f'{type(exc).__name__}: {exc}')}",
                "check the provider options and the host's status",
                nothing_written=not written,
            ) from None

    def _populate(self, zone: str) -> Any:
        from octodns.zone import Zone

        ozone = Zone(zone, [])
        exists = self._call(
            zone, "read", lambda: self.octo.populate(ozone, target=True, lenient=True)
        )
        if exists is False:
            raise ProviderError(
                f"{zone}: {self.label} has no such zone",
                "create the zone at the DNS host first (the tool never creates zones)",
                nothing_written=True,
            )
        return ozone

    @staticmethod
    def _at(ozone: Any, keys: Iterable[Key]) -> dict[Key, RRset]:
        wanted = set(keys)
        return {key_of(r): to_rrset(r) for r in ozone.records if key_of(r) in wanted}

    # ------------------------------------------------------------------ the interface

    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        """Every RRset at `names` as the octoDNS provider populates the zone. Types the tool
        cannot represent (ALIAS, the provider's own) are left out: it never writes them."""
        from ..errors import UsageError

        zone = fqdn(zone)
        wanted = {fqdn(n) for n in names}
        out = []
        for record in self._populate(zone).records:
            if record.fqdn.lower() in wanted:
                try:
                    out.append(to_rrset(record))
                except (ProviderError, UsageError):
                    continue
        return sorted(out, key=lambda r: r.key)

    def apply(self, zone: str, plan, *, on_step: StepCallback | None = None) -> ChangeRef:
        """Each step: populate, check, build the desired zone, octoDNS plan, check, apply;
        every step but the last reported to `on_step` (journaled) before the next one."""
        zone = fqdn(zone)
        expect: dict[Key, RRset | None] = {c.key: c.before for c in plan.changes}
        steps = mx_steps(plan.changes, self.settings.mx_update)
        for i, targets in enumerate(steps):
            if i:
                if on_step is not None:
                    on_step("MX union written (old + new values)", steps[i - 1])
                pause("octodns-between-steps")
            try:
                self._step(zone, expect, targets, first=i == 0)
            except CutoverError as exc:
                if i:  # the union step is written: never report this zone as untouched
                    exc.nothing_written = False
                    exc.message = exc.message.replace(
                        "nothing was applied", "only the first MX step (old + new MX) was applied"
                    )
                raise
            expect = {**expect, **targets}
        self._read_back(zone, steps[-1])
        return ChangeRef(zone=zone, extra={"applies": len(steps)})

    def nameservers(self, zone: str) -> list[str]:
        """The configured list; else every name in the zone's NS RRset, at port 53."""
        if self.settings.nameservers:
            return list(self.settings.nameservers)
        zone = fqdn(zone)
        ns = self._at(self._populate(zone), [(zone, "NS")]).get((zone, "NS"))
        return [f"{v.rstrip('.')}:53" for v in (ns.values if ns else ())]

    def close(self) -> None:
        session = getattr(self.octo, "_sess", None)
        if session is not None and hasattr(session, "close"):
            session.close()

    # ------------------------------------------------------------------ one apply

    def _step(self, zone: str, expect: dict, targets: dict, first: bool) -> None:
        current = self._populate(zone)
        self._check(zone, current, expect, first)
        self._refuse_unmodelled(zone, current, targets)
        desired = self._desired(zone, current, targets)
        oplan = self._call(zone, "plan", lambda: self.octo.plan(desired))
        if oplan is not None:
            self._check(zone, oplan.existing, expect, first)
        self._check_plan(zone, oplan, expect, targets)
        if oplan is not None:
            self._call(zone, "apply", lambda: self.octo.apply(oplan), written=True)

    def _check(self, zone: str, ozone: Any, expect: dict, first: bool) -> None:
        """Drift: every touched RRset must be what the plan (or the previous step) left."""
        live = self._at(ozone, expect)
        for key, want in sorted(expect.items()):
            if live.get(key) == want:
                continue
            if first:
                raise DriftError(
                    f"{zone}: {key[0]} {key[1]} changed since the plan was made; "
                    "nothing was applied",
                    "run plan again and review the new diff",
                )
            raise ProviderError(
                f"{zone}: {key[0]} {key[1]} changed between the two MX steps; the zone holds "
                "the union of the old and new MX",
                "run `invoke rollback` (it restores the old MX) and plan again",
            )

    def _refuse_unmodelled(self, zone: str, current: Any, targets: dict) -> None:
        names = {k[0] for k in targets}
        bad = sorted(
            f"{r.fqdn} {r._type}"
            for r in current.records
            if r.fqdn.lower() in names
            and (not self.octo.supports(r) or getattr(r, "dynamic", None))
        )
        if bad:
            raise ProviderError(
                f"{zone}: {', '.join(bad)}: at a name this run changes, and {self.label} cannot "
                "write it back as it is (unsupported type or dynamic record); nothing was applied",
                "change these names with the host's own tools, or use a native provider",
                nothing_written=True,
            )

    def _desired(self, zone: str, current: Any, targets: dict) -> Any:
        """The populated zone with only `targets` changed; what the provider cannot model is
        left out (octoDNS then neither writes nor deletes it)."""
        desired = current.copy()
        by_key = {key_of(r): r for r in current.records}
        for record in current.records:
            if not self.octo.supports(record):
                desired.remove_record(record)
        root_ns = desired.root_ns
        if root_ns is not None and not getattr(self.octo, "SUPPORTS_ROOT_NS", False):
            desired.remove_record(root_ns)
        for key, want in sorted(targets.items()):  # removals first: a CNAME may replace them
            if want is None and key in by_key:
                desired.remove_record(by_key[key])
        for want in (w for _, w in sorted(targets.items()) if w is not None):
            self._call(
                zone,
                f"check of {want.name} {want.type}",
                lambda w=want: desired.add_record(to_record(desired, w), replace=True),
            )
        return desired

    def _check_plan(self, zone: str, oplan: Any, expect: dict, targets: dict) -> None:
        """octoDNS may change exactly our keys, exactly to our values, and nothing else."""
        planned: set[Key] = set()
        for change in oplan.changes if oplan is not None else ():
            record = change.new or change.existing
            key = key_of(record)
            want = targets.get(key, "not ours")
            got = to_rrset(change.new) if change.new is not None else None
            if key not in targets or got != want:
                action = type(change).__name__.lower()
                raise ProviderError(
                    f"{zone}: octoDNS ({self.label}) planned to {action} {key[0]} {key[1]}, "
                    "which is not what this run changes; nothing was applied",
                    "report it: the bridge refuses any write it did not ask for",
                    nothing_written=True,
                )
            planned.add(key)
        if oplan is not None and getattr(oplan, "meta", None):
            raise ProviderError(
                f"{zone}: octoDNS ({self.label}) planned zone setting changes "
                f"({self._scrub(str(oplan.meta))}); nothing was applied",
                "align the zone's settings with the provider's defaults first",
                nothing_written=True,
            )
        missing = sorted(k for k, v in targets.items() if v != expect.get(k) and k not in planned)
        if missing:
            names = ", ".join(f"{k[0]} {k[1]}" for k in missing)
            raise ProviderError(
                f"{zone}: octoDNS ({self.label}) would not write {names} (the provider filters "
                "the change, e.g. a TTL below its minimum); nothing was applied",
                "check ttl.cutover / ttl.final against the host's limits",
                nothing_written=True,
            )

    def _read_back(self, zone: str, final: dict) -> None:
        live = self._at(self._populate(zone), final)
        wrong = sorted(k for k, want in final.items() if live.get(k) != want)
        if wrong:
            names = ", ".join(f"{k[0]} {k[1]}" for k in wrong)
            raise ProviderError(
                f"{zone}: {self.label} accepted the change but does not hold {names} as sent; "
                "the zone may be partly changed",
                f"run `invoke plan --env {self.env.name}` and check the host",
            )
