"""Amazon Route53 through boto3: credentials only from the standard AWS chain.

boto3 honours `AWS_ENDPOINT_URL_ROUTE_53`, so the same code runs against moto or LocalStack with
nothing of ours in between. Route53 allows 5 requests per second per account, so a stage costs
as few requests as safety allows, at most 3 per zone (a run of 200 zones is bound by that rate):

- the hosted zones are found once per run: one `ListHostedZonesByName` page lists up to 100
  zones in name order, so the zones of an environment usually cost one or two requests in all;
- reads ask only for the managed names (`ListResourceRecordSets` from `StartRecordName`, every
  page), never the whole zone, so a zone of 10,000 records costs the same as one of ten; that
  read, the one the plan is made from, is the only one before a change;
- a stage is one `ChangeResourceRecordSets` per zone: a DELETE carrying the exact old RRset as
  Route53 returned it, plus a CREATE of the new one. Route53 rejects the whole batch when the
  live RRset is no longer the one the plan was made against, so a change made by someone else
  after the plan is never overwritten, and no re-read before the change is needed; only when
  Route53 refuses is the zone read again, to name the record that moved;
- the change is also what makes a retry safe: botocore's retry configuration (adaptive mode,
  9 attempts unless `AWS_MAX_ATTEMPTS`/`AWS_RETRY_MODE` say otherwise) is the only retry loop,
  and a retried change cannot apply twice (its DELETE no longer matches). When the answer to a
  change is lost (connection closed, read timeout), the touched names are read again: every
  `after` in place means it was applied, every `before` means nothing was written, anything
  else is reported as unknown;
- a batch is split only when over Route53's quotas (1000 records, 32,000 characters), never
  inside one name, and the split is announced because it is not atomic;
- `wait` polls `GetChange` with backoff for every change of the run still pending at once (a
  change answered INSYNC is not polled), within the validation timeout.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..aws import aws_errors
from ..errors import ChecksFailed, ConfigError, CutoverError, DriftError, ProviderError
from ..records import RRset, fqdn, index
from ..rrtypes import MAIL_TYPES
from .base import ChangeRef, Provider
from .contract import Boolean, Capabilities, Integer, Text
from .route53_values import batches, decode_name, route53_rrset, rrset_from_route53

#: Record sets at a managed name that the tool cannot represent as one plain RRset.
SPECIAL_KEYS = ("SetIdentifier", "AliasTarget", "TrafficPolicyInstanceId")
MANAGED_TYPES = MAIL_TYPES


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _is_precondition(exc: Exception) -> bool:
    """Route53 refused a DELETE/CREATE because the live RRset is not what we said it was."""
    code, text = _error_code(exc), str(exc)
    if code == "InvalidChangeBatch":
        return any(
            s in text
            for s in ("values provided do not match", "but it was not found", "already exists")
        )
    # moto: a DELETE whose values never existed answers InvalidInput naming Action=DELETE
    return code == "InvalidInput" and "Action=DELETE" in text


def poll_change(
    get_status: Callable[[str], str],
    change_id: str,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    first_delay: float = 1.0,
    max_delay: float = 15.0,
) -> int:
    """Poll until `get_status(change_id)` is INSYNC; returns the number of polls."""
    status = {change_id: "PENDING"}
    return poll_changes(get_status, status, timeout, sleep, clock, first_delay, max_delay)


def poll_changes(
    get_status: Callable[[str], str],
    status: dict[str, str],
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    first_delay: float = 1.0,
    max_delay: float = 15.0,
) -> int:
    """Poll every change in `status` (id -> last known status) not yet INSYNC, all of them in
    each round, until none is left; updates `status`; returns the number of GetChange calls.

    Route53 usually reports INSYNC within 60 s; one round for the whole batch, with backoff
    between rounds (x1.5, capped), keeps a long wait cheap against the 5 requests/s account
    limit. Raises ChecksFailed at the timeout.
    """
    deadline = clock() + timeout
    delay = first_delay
    polls = 0
    while True:
        pending = [cid for cid, st in status.items() if st != "INSYNC"]
        for cid in pending:
            polls += 1
            status[cid] = get_status(cid)
        left = [cid for cid, st in status.items() if st != "INSYNC"]
        if not left:
            return polls
        if clock() + delay > deadline:
            raise ChecksFailed(
                f"Route53 change {left[0]} still {status[left[0]]} after {timeout:.0f}s"
                + (f" ({len(left)} changes pending)" if len(left) > 1 else ""),
                "Route53 is slow to propagate; run `invoke validate` later",
            )
        sleep(delay)
        delay = min(delay * 1.5, max_delay)


def retry_config() -> dict[str, Any]:
    """botocore's retries, the only retry loop: adaptive (client-side rate limiting after a
    throttle), 9 attempts in all; `AWS_MAX_ATTEMPTS` (attempts in all) / `AWS_RETRY_MODE` or
    the AWS config file's `max_attempts` override them, as for any AWS tool."""
    import botocore.session

    attempts = botocore.session.get_session().get_config_variable("max_attempts")
    return {
        "mode": os.environ.get("AWS_RETRY_MODE") or "adaptive",
        "total_max_attempts": int(attempts) if attempts else 9,
    }


class Route53Provider(Provider):
    """Options: `region` (default us-east-1), `private` (look up private zones instead of
    public ones), `max_concurrency` (reserved: zones are applied one after another today)."""

    options_schema = {
        "region": Text(doc="AWS region of the API endpoint (default us-east-1)"),
        "private": Boolean(doc="look up private hosted zones instead of public ones"),
        "max_concurrency": Integer(low=1, high=64, doc="reserved: zones go one after another"),
    }
    # one ChangeResourceRecordSets per zone (split only over Route53's quotas, announced);
    # its DELETE of the exact old RRset is the precondition; GetChange reports INSYNC
    capabilities = Capabilities(atomic_per_zone=True, drift_check="precondition", reports_sync=True)
    #: ListResourceRecordSets page size for one managed name (a name rarely holds more types).
    page_size = 100
    #: ListHostedZonesByName page size (Route53's maximum).
    zone_page_size = 100

    def __init__(self, env) -> None:
        super().__init__(env)
        self.region = str(self.options.get("region") or "us-east-1")
        self.private = bool(self.options.get("private", False))
        self._client: Any = None
        self._zone_ids: dict[str, str] = {}
        #: zone -> hosted zone ids of that name and kind, from the run's one listing
        self._listed: dict[str, list[str]] | None = None
        # (zone, name, type) -> the record set exactly as Route53 last returned it
        self._raw: dict[tuple[str, str, str], dict[str, Any]] = {}
        #: change id -> last known status, for every change this run sent
        self._changes: dict[str, str] = {}
        self._servers: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries=retry_config(), connect_timeout=10, read_timeout=60)
            self._client = boto3.session.Session().client(
                "route53", region_name=self.region, config=config
            )
        return self._client

    def _api(self, what: str):
        """Map SDK failures onto exit code 3 with one line (never echoing credentials)."""
        return aws_errors(f"Route53 {what}")

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One API call; throttling and transient failures are retried by botocore alone."""
        with self._api(what):
            return fn(**kwargs)

    # ------------------------------------------------------------------ zones

    def zone_id(self, zone: str) -> str:
        """The hosted zone of `zone`: `zone_id` from the domain entry, else found by name."""
        zone = fqdn(zone)
        if zone in self._zone_ids:
            return self._zone_ids[zone]
        domain = next((d for d in self.env.domains if fqdn(d.name) == zone), None)
        listed = self._listing().get(zone)
        if domain is not None and domain.zone_id:
            zid = str(domain.zone_id).split("/")[-1]
            if zid not in self._listing(any_kind=True).get(zone, []):
                # not listed under that name: ask, to say what the id is instead
                got = self._call(f"GetHostedZone {zid}", self.client.get_hosted_zone, Id=zid)
                if decode_name(got["HostedZone"]["Name"]) != zone:
                    raise ConfigError(
                        f"{self.env.path}: domains.{domain.name}.zone_id: hosted zone {zid} is "
                        f"{got['HostedZone']['Name']}, not {zone}",
                        "fix the zone_id",
                    )
        elif listed:
            zid = self._one_zone(zone, listed)
        else:
            # not in the run's listing (a name outside the environment, or an emulator whose
            # listing does not start at DNSName as Route53's does): ask for this name alone
            zid = self._one_zone(zone, self._find_zone(zone))
        self._zone_ids[zone] = zid
        return zid

    def _listing(self, any_kind: bool = False) -> dict[str, list[str]]:
        """Every hosted zone named like a zone of the environment: one listing for the run."""
        if self._listed is None:
            self._listed, self._listed_any = self._list_zones(
                sorted({fqdn(d.name) for d in self.env.domains}, key=_order)
            )
        return self._listed_any if any_kind else self._listed

    def _list_zones(self, zones: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """(zones of our kind, zones of any kind) per name, in as few requests as possible.

        ListHostedZonesByName lists zones in name order (labels reversed) from `DNSName`, 100 a
        page. Each request starts at the first name not yet covered; every name that sorts
        before the next page's first zone is then complete, so an environment's zones cost
        one request per 100 when they sit together, however many zones the account holds.
        """
        ours: dict[str, list[str]] = {z: [] for z in zones}
        every: dict[str, list[str]] = {z: [] for z in zones}
        remaining = list(zones)
        kwargs: dict[str, Any] = {}
        while remaining:
            if not kwargs:
                kwargs = {"DNSName": remaining[0]}
            resp = self._call(
                f"ListHostedZonesByName {kwargs['DNSName']}",
                self.client.list_hosted_zones_by_name,
                MaxItems=str(self.zone_page_size),
                **kwargs,
            )
            for hz in resp.get("HostedZones", []):
                name = decode_name(hz["Name"])
                if name in ours:
                    zid = hz["Id"].split("/")[-1]
                    every[name].append(zid)
                    if bool(hz.get("Config", {}).get("PrivateZone", False)) == self.private:
                        ours[name].append(zid)
            nxt = resp.get("NextDNSName")
            if not resp.get("IsTruncated") or not nxt:
                break
            nxt_name = decode_name(nxt)
            remaining = [n for n in remaining if not _before(n, nxt_name)]
            if remaining and remaining[0] == nxt_name:  # more zones of that very name follow
                kwargs = {"DNSName": nxt, "HostedZoneId": resp["NextHostedZoneId"]}
            else:
                kwargs = {}
        return ours, every

    def _one_zone(self, zone: str, found: list[str]) -> str:
        kind = "private" if self.private else "public"
        if not found:
            raise ConfigError(
                f"no {kind} Route53 hosted zone named {zone}",
                f"create it, check the AWS account, or set domains.{zone.rstrip('.')}.zone_id",
            )
        if len(found) > 1:
            raise ConfigError(
                f"{len(found)} {kind} Route53 hosted zones are named {zone}: {', '.join(found)}",
                f"set domains.{zone.rstrip('.')}.zone_id to the one to change",
            )
        return found[0]

    def _find_zone(self, zone: str) -> list[str]:
        """The hosted zones of our kind named exactly `zone` (one name, every page)."""
        found: list[str] = []
        kwargs: dict[str, Any] = {"DNSName": zone, "MaxItems": str(self.zone_page_size)}
        while True:
            resp = self._call(
                f"ListHostedZonesByName {zone}", self.client.list_hosted_zones_by_name, **kwargs
            )
            past = False
            for hz in resp.get("HostedZones", []):
                if decode_name(hz["Name"]) != zone:
                    past = True
                    break
                if bool(hz.get("Config", {}).get("PrivateZone", False)) == self.private:
                    found.append(hz["Id"].split("/")[-1])
            if past or not resp.get("IsTruncated") or not resp.get("NextDNSName"):
                break
            if decode_name(resp["NextDNSName"]) != zone:
                break
            kwargs = {
                "DNSName": resp["NextDNSName"],
                "HostedZoneId": resp["NextHostedZoneId"],
                "MaxItems": str(self.zone_page_size),
            }
        return found

    # ------------------------------------------------------------------ read

    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        zone = fqdn(zone)
        zid = self.zone_id(zone)
        out: list[RRset] = []
        for raw in self._read_names(zid, {fqdn(n) for n in names}):
            name, rtype = decode_name(raw["Name"]), raw["Type"]
            if rtype in ("SOA", "NS"):
                continue
            if any(k in raw for k in SPECIAL_KEYS):
                if rtype in MANAGED_TYPES:
                    raise ProviderError(
                        f"{zone}: {name} {rtype} is an alias or routing-policy record set "
                        "in Route53; the tool only manages simple record sets",
                        "convert it to a simple record set or leave the name out",
                    )
                continue
            try:
                rrset = rrset_from_route53(raw)
            except CutoverError as exc:
                raise ProviderError(f"{zone}: Route53 returned {name} {rtype}: {exc}") from exc
            self._raw[(zone, name, rtype)] = raw
            out.append(rrset)
        return out

    def _read_names(self, zid: str, names: set[str]) -> Iterator[dict[str, Any]]:
        """Every record set at `names`, in as few ListResourceRecordSets calls as possible.

        Route53 lists in name order (labels reversed). Each call starts at the first name not yet
        covered; every name that sorts before the next page's first record is then complete. So
        managed names that sit close together (apex, _dmarc, _domainkey...) cost one call, and
        names far apart cost one call each, however big the zone: reads follow the managed names,
        not the zone size. A name is only taken as covered when it is so under both plausible
        orderings of names, so an ordering subtlety costs a call, never a missed record.
        """
        remaining = sorted(names, key=_order)
        kwargs: dict[str, Any] = {}
        while remaining:
            if not kwargs:
                kwargs = {"StartRecordName": remaining[0]}
            resp = self._call(
                f"ListResourceRecordSets {kwargs['StartRecordName']}",
                self.client.list_resource_record_sets,
                HostedZoneId=zid,
                MaxItems=str(self.page_size),
                **kwargs,
            )
            for raw in resp.get("ResourceRecordSets", []):
                if decode_name(raw["Name"]) in names:
                    yield raw
            nxt = resp.get("NextRecordName")
            if not resp.get("IsTruncated") or not nxt:
                return
            nxt_name = decode_name(nxt)
            remaining = [n for n in remaining if not _before(n, nxt_name)]
            if remaining and remaining[0] == nxt_name:
                # the page ended inside a name we want: go on from the exact record
                kwargs = {"StartRecordName": nxt, "StartRecordType": resp["NextRecordType"]}
                if resp.get("NextRecordIdentifier"):
                    kwargs["StartRecordIdentifier"] = resp["NextRecordIdentifier"]
            else:
                kwargs = {}

    # ------------------------------------------------------------------ apply

    def change_batches(self, zone: str, plan) -> list[list[dict[str, Any]]]:
        """The requests for a plan: per name, DELETE the live set exactly, CREATE the new one."""
        by_name: dict[str, list[dict[str, Any]]] = {}
        for change in plan.changes:
            name, rtype = change.key
            group = by_name.setdefault(name, [])
            if change.before is not None:
                raw = self._raw.get((zone, name, rtype))
                if raw is None or rrset_from_route53(raw) != change.before:
                    raw = route53_rrset(change.before)
                group.append({"Action": "DELETE", "ResourceRecordSet": raw})
            if change.after is not None:
                group.append({"Action": "CREATE", "ResourceRecordSet": route53_rrset(change.after)})
        return batches(list(by_name.values()))

    def apply(self, zone: str, plan) -> ChangeRef:
        zone = fqdn(zone)
        zid = self.zone_id(zone)
        # no re-read here: the exact DELETE in the batch makes Route53 refuse drift atomically
        todo = self.change_batches(zone, plan)
        if len(todo) > 1:
            print(
                f"warning: {zone}: {len(plan.changes)} changes exceed one Route53 request; "
                f"sending {len(todo)} requests, which are NOT atomic together "
                "(each name stays whole within one request)",
                file=sys.stderr,
            )
        ids: list[str] = []
        for n, batch in enumerate(todo, 1):
            cid = self._send(zone, zid, batch, plan, n, len(todo))
            if cid is not None:
                ids.append(cid)
        return ChangeRef(
            zone=zone, id=ids[-1] if ids else None, extra={"changes": ids, "requests": len(todo)}
        )

    def _send(self, zone: str, zid: str, batch: list, plan, n: int, total: int) -> str | None:
        """Send one batch; its change id (None when a lost answer was found applied)."""
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        comment = f"mailcutover {plan.stage or 'change'} {n}/{total}"
        changes = _batch_changes(plan, batch)
        try:
            resp = self._call(
                f"ChangeResourceRecordSets {zone}",
                self._raw_change,
                HostedZoneId=zid,
                ChangeBatch={"Comment": comment[:256], "Changes": batch},
            )
        except ProviderError as exc:
            cause = exc.__cause__
            if isinstance(cause, (HTTPClientError, BotoConnectionError)):
                return self._lost(zone, changes, exc, n, total)
            if isinstance(cause, ClientError) and _is_precondition(cause):
                retried = cause.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                self._refused(zone, changes, exc, _error_code(cause), n, total, bool(retried))
                return None  # a retry refused because our own lost attempt had applied it
            raise
        info = resp["ChangeInfo"]
        cid = info["Id"].split("/")[-1]
        if self._changes.get(cid) != "INSYNC":
            self._changes[cid] = info.get("Status", "PENDING")
        return cid

    def _done_before(self, n: int, total: int) -> str:
        return (
            f"requests 1-{n - 1} of {total} were applied, this one and later were not"
            if n > 1
            else "nothing was applied"
        )

    def _refused(self, zone, changes, exc, code: str, n: int, total: int, retried: bool) -> None:
        """Route53 refused the batch: a record set is not what the plan was made against.
        Read the names again to say which (only now: the happy path never re-reads)."""
        try:
            live = index(self.read(zone, {c.key[0] for c in changes}))
        except CutoverError as again:
            if retried:  # an earlier attempt, its answer lost, may have applied it
                raise ProviderError(
                    f"{zone}: Route53 refused a retried change ({code}) and reading the zone "
                    f"again failed ({again.message}): whether the change was applied is unknown",
                    "run `invoke plan` when Route53 answers: it shows what is live",
                ) from exc
            live = {c.key: c.before for c in changes}  # cannot say which: the generic refusal
        if retried and all(live.get(c.key) == c.after for c in changes):
            # botocore retried after a lost answer and the first attempt had been applied
            print(
                f"warning: {zone}: Route53's answer was lost and the retry refused; the zone "
                "already holds every planned record, so the change was applied",
                file=sys.stderr,
            )
            return
        moved = [c for c in changes if live.get(c.key) != c.before]
        if n == 1 and moved:
            name, rtype = moved[0].key
            raise DriftError(
                f"{zone}: {name} {rtype} changed since the plan was made; nothing was applied "
                f"(Route53 refused the change: {code})",
                "run plan again and review the new diff",
            ) from exc
        err = DriftError(
            f"{zone}: Route53 refused the change because a record set changed since "
            f"the plan was made ({code}); {self._done_before(n, total)}",
            "run plan again and review the new diff",
        )
        err.nothing_written = n == 1  # earlier requests of a split batch were written
        raise err from exc

    def _lost(self, zone: str, changes, exc: ProviderError, n: int, total: int) -> None:
        """No answer to a change (connection closed, read timeout): Route53 may or may not
        have applied it. The names it touches say which."""
        what = f"{zone}: no answer from Route53 to ChangeResourceRecordSets ({exc.message})"
        try:
            live = index(self.read(zone, {c.key[0] for c in changes}))
        except CutoverError as again:
            raise ProviderError(
                f"{what}; reading the zone again failed too ({again.message}): whether the "
                "change was applied is unknown",
                "run `invoke plan` when Route53 answers: it shows what is live",
            ) from exc
        if all(live.get(c.key) == c.after for c in changes):
            print(
                f"warning: {zone}: Route53's answer to the change was lost; the zone holds "
                "every planned record, so it was applied (no change id to wait for)",
                file=sys.stderr,
            )
            return None
        if all(live.get(c.key) == c.before for c in changes):
            err = ProviderError(
                f"{what}; the zone still holds every record as planned: "
                f"{self._done_before(n, total)}",
                "run the stage again",
            )
            err.nothing_written = n == 1
            raise err from exc
        raise ProviderError(
            f"{what}; the zone holds neither the planned old nor the new records: whether the "
            "change was applied is unknown",
            "run `invoke plan` to see what is live, then decide",
        ) from exc

    def _raw_change(self, **kwargs: Any) -> Any:
        return self.client.change_resource_record_sets(**kwargs)

    # ------------------------------------------------------------------ wait, servers

    def wait(self, ref: ChangeRef) -> None:
        """Until the ref's changes are INSYNC; polls every pending change of the run at once,
        so the waits of a stage's zones overlap and a zone already seen in sync costs nothing."""
        mine = ref.extra.get("changes", [ref.id] if ref.id else [])
        for cid in mine:
            self._changes.setdefault(cid, "PENDING")
        if all(self._changes[cid] == "INSYNC" for cid in mine):
            return
        poll_changes(self._status, self._changes, float(self.env.validation.timeout))

    def _status(self, change_id: str) -> str:
        resp = self._call(f"GetChange {change_id}", self.client.get_change, Id=change_id)
        return resp["ChangeInfo"]["Status"]

    def nameservers(self, zone: str) -> list[str]:
        """The zone's delegation set, resolved to addresses on port 53 (once per run)."""
        zone = fqdn(zone)
        if zone not in self._servers:
            self._servers[zone] = self._nameservers(zone)
        return list(self._servers[zone])

    def _nameservers(self, zone: str) -> list[str]:
        zid = self.zone_id(zone)
        got = self._call(f"GetHostedZone {zid}", self.client.get_hosted_zone, Id=zid)
        out: list[str] = []
        for host in got.get("DelegationSet", {}).get("NameServers", []):
            try:
                infos = socket.getaddrinfo(host, 53, type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise ProviderError(f"{zone}: cannot resolve name server {host}: {exc}") from exc
            addr = infos[0][4][0]
            out.append(f"[{addr}]:53" if ":" in addr else f"{addr}:53")
        return out


def _order(name: str) -> tuple[str, ...]:
    """Route53's listing order: labels reversed (com.example._dmarc)."""
    return tuple(reversed(name.rstrip(".").split(".")))


def _before(name: str, other: str) -> bool:
    """`name` sorts strictly before `other` under both readings of "labels reversed"."""
    as_text = ".".join(_order(name)) < ".".join(_order(other))
    return as_text and _order(name) < _order(other)


def _batch_changes(plan, batch: list[dict[str, Any]]) -> list:
    """The plan's changes that one request carries (a split keeps each name whole)."""
    names = {decode_name(c["ResourceRecordSet"]["Name"]) for c in batch}
    return [c for c in plan.changes if c.key[0] in names]
