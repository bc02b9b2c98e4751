"""What each stage does to a domain's MTA-STS policy, and how a rollback puts it back.

- prepare (and cutover, unchanged): `mode: testing` with the original `mx:` patterns plus the
  old and new provider's MX, `max_age` kept. Testing through the cutover window means no sender
  refuses either provider while MX moves, and a rollback of the MX needs no policy change.
- finalize: the original mode with the new provider's MX only, `max_age` kept.

"Original" is the policy published before `prepare`: the file in prepare's snapshot, or, while
prepare has not run, the one published now. The `_mta-sts` TXT id is derived from the file's
content (`policy.policy_id`), so it changes with every policy change and a re-run changes
nothing. The pipeline publishes and reads back every policy after the snapshot and before the
zone write that carries the new id, so no sender caches the old file under the new id.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import ChecksFailed, ConfigError, ProviderError, UsageError
from ..plan import Want
from ..records import fqdn
from ..rrtypes import mx_fields
from . import policy as pol
from .fetch import FetchError, fetch_for, policy_url
from .publish import publisher


def sha256(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else None


@dataclass
class PolicyChange:
    """One domain's policy file: as it is (`before`), as the run leaves it (`after`; None
    removes it, only ever when a rollback restores a domain that had none)."""

    domain: str
    before: str | None
    after: str | None
    location: str

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "location": self.location}

    def summary(self) -> str:
        if self.after is None:
            return f"{self.domain}: MTA-STS policy removed from {self.location}"
        p = pol.parse(self.after)
        return (
            f"{self.domain}: MTA-STS policy mode {p.mode}, mx {', '.join(p.mx) or '(none)'}, "
            f"max_age {p.max_age} -> {self.location}"
        )


@dataclass
class PolicyConflict:
    """A policy someone changed since the run: left alone by a rollback without --force."""

    zone: str
    location: str

    def line(self) -> str:
        return f"MTA-STS policy {self.location}: changed since the run"


@dataclass
class StagePolicies:
    changes: list[PolicyChange] = field(default_factory=list)
    #: domain -> the `_mta-sts` TXT Want (a new id, or "keep as served")
    wants: dict[str, list[Want]] = field(default_factory=dict)
    #: domain -> the policy file the stage leaves (published already or not)
    files: dict[str, PolicyChange] = field(default_factory=dict)

    def confirm_announced(self, plan: Any) -> None:
        """A plan that changes a domain's `_mta-sts` id whose file is published already (a run
        that published it was then refused or stopped) publishes it again, unchanged: the
        pipeline then checks the web server serves it before the zone write, as on the first
        run. Without this a re-run changed the id while the web server still served
        yesterday's file, which senders would cache under the new id."""
        domain = plan.zone.rstrip(".")
        file = self.files.get(domain)
        if file is None or any(c.domain == domain for c in self.changes):
            return
        name = fqdn("_mta-sts", plan.zone)
        for c in plan.changes:
            if c.after is None or c.after.key != (name, "TXT"):
                continue
            if c.before is None or c.before.value_keys() != c.after.value_keys():
                self.changes.append(PolicyChange(domain, file.after, file.after, file.location))

    def check_announced(self, zone: str, current: list[Any]) -> None:
        """The stages change the policy of a domain that announces one, and never announce
        MTA-STS where it was not: a new `_mta-sts` record could turn enforcement on."""
        from ..records import txt_join

        domain = zone.rstrip(".")
        if domain not in self.wants:
            return
        name = fqdn("_mta-sts", zone)
        for rr in current:
            if rr.key == (name, "TXT") and any(
                txt_join(v).startswith("v=STSv1") for v in rr.values
            ):
                return
        raise ConfigError(
            f"mta_sts: {domain}: no v=STSv1 TXT at {name} (the domain announces no policy)",
            "leave the domain out of mta_sts.domains, or publish its _mta-sts record first",
        )


def _hosts(mx_values: list[str]) -> list[str]:
    return [mx_fields(v)[1].rstrip(".").lower() for v in mx_values]


def originals(env: Any) -> dict[str, str | None]:
    """The policies as prepare's first snapshot recorded them (before any stage changed them)."""
    from .. import journal
    from ..state import get_state

    state = get_state(env)
    unit = journal.find(journal.stack(state.read_journal()), "prepare")
    if unit is None or not unit.snapshots:
        return {}
    return dict(state.load_snapshot(unit.snapshots[0]).get("mta_sts") or {})


def _parse(text: str, where: str) -> pol.Policy:
    try:
        return pol.parse(text)
    except pol.PolicyError as exc:
        raise UsageError(
            f"{where}: not a valid MTA-STS policy: {exc}",
            "fix the published policy file, then run again",
        ) from exc


def plan_stage(env: Any, stage: Any, renders: list[Any]) -> StagePolicies:
    """The policy each managed domain gets at `stage` and its `_mta-sts` TXT."""
    out = StagePolicies()
    if env.mta_sts is None or stage.before_migration:
        return out
    pub = publisher(env)
    kept = originals(env)
    ttl = stage.ttl(env.ttl_cutover, env.ttl_final)
    for dr in renders:
        domain = dr.domain.name
        if not env.mta_sts.manages(domain):
            continue
        where = pub.location(domain)
        live = pub.read(domain)
        original = kept.get(domain, live)
        if original is None:
            raise ConfigError(
                f"mta_sts: {domain}: no MTA-STS policy at {where}",
                "put the policy the domain serves today there, or leave the domain out of "
                "mta_sts.domains",
            )
        orig = _parse(original, where)
        new_hosts = _hosts(dr.new.mx)
        if stage.drops_old:
            wanted = (
                pol.final(orig, new_hosts) if new_hosts else pol.Policy("none", (), orig.max_age)
            )
        else:
            wanted = pol.coexistence(orig, _hosts(dr.old.mx), new_hosts)
        after = original if wanted == orig else wanted.text()
        out.files[domain] = PolicyChange(domain, live, after, where)
        if live != after:
            out.changes.append(out.files[domain])
        # the id is kept only while the file is the original one and stays so; a file going
        # back to the original (finalize, when the original already named just the new MX)
        # still needs a new id, or senders keep the coexistence policy cached under this one
        values = None if after == original == live else (pol.txt_value(after),)
        name = fqdn("_mta-sts", fqdn(domain))
        want = Want(name, "TXT", ttl, values, lower_only=stage.lower_only)
        out.wants.setdefault(domain, []).append(want)
    return out


def publish(env: Any, change: PolicyChange) -> None:
    """Write one policy and read it back: the id may change only once the file is there."""
    pub = publisher(env)
    if change.after is None:
        pub.delete(change.domain)
    else:
        pub.write(change.domain, change.after)
    if pub.read(change.domain) != change.after:
        raise ProviderError(
            f"MTA-STS policy {change.location}: read back differs from what was written",
            "check the publish target (another writer, a full disk), then run again",
        )


def confirm_served(env: Any, changes: list[PolicyChange], warn, *, strict: bool) -> None:
    """Before the zone write that changes the `_mta-sts` id, the web server must serve the new
    file: a sender that fetches on the new id and gets yesterday's file (a CDN, a web server
    reading another copy) caches it for `max_age`. A stage waits up to `fetch.wait` seconds and
    then refuses (ChecksFailed, the id unchanged); a rollback does not wait on a web server in
    an emergency, it says which file is not served yet."""
    cfg = env.mta_sts
    pending = [c for c in changes if c.after is not None]
    if cfg is None or not cfg.wait or not pending:
        return
    deadline = time.monotonic() + (cfg.wait if strict else 0)
    while True:
        late = []
        for change in pending:
            try:
                same = _same_policy(fetch_for(env, change.domain), change.after)
                if not same:
                    late.append((change, f"serves another policy than {change.location}"))
            except FetchError as exc:
                late.append((change, str(exc)))
        pending = [c for c, _ in late]
        left = deadline - time.monotonic()
        if not late or left <= 0:
            break
        time.sleep(min(2.0, left))
    if not late:
        return
    change, why = late[0]
    line = f"MTA-STS policy of {change.domain} not served yet: {why}"
    if not strict:
        warn(f"{line}; the id goes back anyway (rollback does not wait on a web server)")
        return
    raise ChecksFailed(
        f"{line} after {cfg.wait} s; the _mta-sts id was left unchanged",
        "make the web server serve the published file (or raise mta_sts.fetch.wait), then "
        "run again; rollback puts the previous file back",
    )


def _same_policy(served: str, published: str) -> bool:
    """Compared as senders read them (mode, mx, max_age): a web server may change line ends."""
    try:
        return pol.parse(served) == pol.parse(published)
    except pol.PolicyError:
        return served == published


def check_served(env: Any, stage: Any) -> None:
    """The gate of a stage that switches MX: every managed domain's served policy (fetched as
    senders fetch it) must list every new MX host; ChecksFailed (exit 1) names the first that
    does not."""
    from ..render import render_domain

    if env.mta_sts is None:
        return
    for d in env.domains:
        if not env.mta_sts.manages(d.name):
            continue
        url = policy_url(d.name)
        try:
            served = pol.parse(fetch_for(env, d.name))
        except FetchError as exc:
            raise ChecksFailed(
                f"{stage} refused: MTA-STS policy of {d.name} not fetched: {exc}",
                "make the web server serve the policy prepare published (or --force)",
            ) from exc
        except pol.PolicyError as exc:
            raise ChecksFailed(
                f"{stage} refused: {url} is not a valid MTA-STS policy: {exc}",
                "make the web server serve the policy prepare published (or --force)",
            ) from exc
        hosts = _hosts(render_domain(env, d).new.mx)
        missing = [h for h in hosts if not served.lists(h)]
        if missing:
            raise ChecksFailed(
                f"{stage} refused: the MTA-STS policy served at {url} does not list the new "
                f"MX {', '.join(missing)} (mx: {', '.join(served.mx) or 'none'})",
                "make the web server serve the policy prepare published at "
                f"{publisher(env).location(d.name)} (or --force)",
            )


def _need_publisher(env: Any, domains: list[str]) -> None:
    if env.mta_sts is None:
        raise ConfigError(
            f"the runs to undo published MTA-STS policies ({', '.join(domains)}) and no "
            "mta_sts.publish setting says where",
            "restore the mta_sts section of the environment file, then roll back again",
        )


def restore_plan(
    env: Any, runs: list[Any], force: bool
) -> tuple[list[PolicyChange], list[PolicyConflict]]:
    """Compare-and-swap, as for RRsets: put back a unit's `before` policy only where the file
    published is still what its runs wrote; a file someone changed since is a conflict."""
    merged: dict[str, dict[str, Any]] = {}
    for run in runs:
        for domain, p in (run.began.policies or {}).items():
            slot = merged.setdefault(domain, {"before": p.get("before"), "published": False})
            slot["after"] = p.get("after")
            slot["published"] |= domain in run.published
    if not merged:
        return [], []
    _need_publisher(env, sorted(merged))
    pub = publisher(env)
    changes, conflicts = [], []
    for domain, m in sorted(merged.items()):
        live = pub.read(domain)
        where = pub.location(domain)
        if live == m["before"]:
            continue
        if live == m["after"] or force:
            changes.append(PolicyChange(domain, live, m["before"], where))
        elif m["published"]:
            conflicts.append(PolicyConflict(domain, where))
    return changes, conflicts


def snapshot_restore(env: Any, doc: dict[str, Any]) -> list[PolicyChange]:
    """`rollback --snapshot ID`: the policies exactly as the snapshot holds them."""
    kept = doc.get("mta_sts") or {}
    if not kept:
        return []
    _need_publisher(env, sorted(kept))
    pub = publisher(env)
    out = []
    for domain, text in sorted(kept.items()):
        live = pub.read(domain)
        if live != text:
            out.append(PolicyChange(domain, live, text, pub.location(domain)))
    return out
