"""Amazon Route53 through boto3: credentials only from the standard AWS chain.

boto3 honours `AWS_ENDPOINT_URL_ROUTE_53`, so the same code runs against moto or LocalStack with
nothing of ours in between. What keeps a cutover safe here:

- reads ask only for the managed names (`ListResourceRecordSets` from `StartRecordName`, every
  page), never the whole zone, so a zone of 10,000 records costs the same as one of ten;
- a stage is one `ChangeResourceRecordSets` per zone: a DELETE carrying the exact old RRset as
  Route53 returned it, plus a CREATE of the new one. Route53 rejects the whole batch when the
  live RRset is no longer the one the plan was made against, so a change made by someone else
  after the plan is never overwritten. The provider also re-reads those names just before
  sending, which names the record that moved (and catches it on emulators whose DELETE check is
  weaker than AWS's: moto compares against its change history, not the live record);
- a batch is split only when over Route53's quotas (1000 records, 32,000 characters), never
  inside one name, and the split is announced because it is not atomic;
- `wait` polls `GetChange` until INSYNC, with backoff and the validation timeout.
"""

from __future__ import annotations

import random
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..aws import aws_errors
from ..errors import ChecksFailed, ConfigError, CutoverError, DriftError, ProviderError
from ..records import RRset, fqdn
from .base import ChangeRef, Provider, check_drift
from .route53_values import batches, decode_name, route53_rrset, rrset_from_route53

THROTTLED = {"Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded"}
#: Record sets at a managed name that the tool cannot represent as one plain RRset.
SPECIAL_KEYS = ("SetIdentifier", "AliasTarget", "TrafficPolicyInstanceId")
MANAGED_TYPES = {"MX", "TXT", "CNAME", "SRV"}


def _is_throttle(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in THROTTLED or "Rate exceeded" in str(exc)


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
    """Poll until `get_status(change_id)` is INSYNC; returns the number of polls.

    Route53 usually reports INSYNC within 60 s; backoff (x1.5, capped) keeps a long wait cheap
    against the 5 requests/s account limit. Raises ChecksFailed at the timeout.
    """
    deadline = clock() + timeout
    delay = first_delay
    polls = 0
    while True:
        polls += 1
        status = get_status(change_id)
        if status == "INSYNC":
            return polls
        if clock() + delay > deadline:
            raise ChecksFailed(
                f"Route53 change {change_id} still {status} after {timeout:.0f}s",
                "Route53 is slow to propagate; run `invoke validate` later",
            )
        sleep(delay)
        delay = min(delay * 1.5, max_delay)


class Route53Provider(Provider):
    """Options: `region` (default us-east-1), `private` (look up private zones instead of
    public ones), `max_concurrency` (reserved: zones are applied one after another today)."""

    reports_sync = True
    #: ListResourceRecordSets page size for one managed name (a name rarely holds more types).
    page_size = 100
    throttle_retries = 5

    def __init__(self, env) -> None:
        super().__init__(env)
        self.region = str(self.options.get("region") or "us-east-1")
        self.private = bool(self.options.get("private", False))
        self._client: Any = None
        self._zone_ids: dict[str, str] = {}
        # (zone, name, type) -> the record set exactly as Route53 last returned it
        self._raw: dict[tuple[str, str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "adaptive", "max_attempts": 8},
                connect_timeout=10,
                read_timeout=60,
            )
            self._client = boto3.session.Session().client(
                "route53", region_name=self.region, config=config
            )
        return self._client

    def _api(self, what: str):
        """Map SDK failures onto exit code 3 with one line (never echoing credentials)."""
        return aws_errors(f"Route53 {what}")

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One API call with our own bounded retry on throttling, on top of botocore's."""
        from botocore.exceptions import ClientError

        for attempt in range(self.throttle_retries + 1):
            try:
                with self._api(what):
                    try:
                        return fn(**kwargs)
                    except ClientError as exc:
                        if _is_throttle(exc) and attempt < self.throttle_retries:
                            raise _Retry() from exc
                        raise
            except _Retry:
                time.sleep(min(2**attempt, 20) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ zones

    def zone_id(self, zone: str) -> str:
        """The hosted zone of `zone`: `zone_id` from the domain entry, else found by name."""
        zone = fqdn(zone)
        if zone in self._zone_ids:
            return self._zone_ids[zone]
        domain = next((d for d in self.env.domains if fqdn(d.name) == zone), None)
        if domain is not None and domain.zone_id:
            zid = str(domain.zone_id).split("/")[-1]
            got = self._call(f"GetHostedZone {zid}", self.client.get_hosted_zone, Id=zid)
            if decode_name(got["HostedZone"]["Name"]) != zone:
                raise ConfigError(
                    f"{self.env.path}: domains.{domain.name}.zone_id: hosted zone {zid} is "
                    f"{got['HostedZone']['Name']}, not {zone}",
                    "fix the zone_id",
                )
        else:
            zid = self._find_zone(zone)
        self._zone_ids[zone] = zid
        return zid

    def _find_zone(self, zone: str) -> str:
        kind = "private" if self.private else "public"
        found: list[str] = []
        kwargs: dict[str, Any] = {"DNSName": zone, "MaxItems": "100"}
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
                "MaxItems": "100",
            }
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
        # names the record that moved; the DELETE below makes Route53 enforce it atomically
        check_drift(zone, plan, self.read(zone, {c.key[0] for c in plan.changes}))
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
            ids.append(self._send(zone, zid, batch, plan, n, len(todo)))
        return ChangeRef(zone=zone, id=ids[-1], extra={"changes": ids, "requests": len(todo)})

    def _send(self, zone: str, zid: str, batch: list, plan, n: int, total: int) -> str:
        from botocore.exceptions import ClientError

        comment = f"mailcutover {plan.stage or 'change'} {n}/{total}"
        try:
            resp = self._call(
                f"ChangeResourceRecordSets {zone}",
                self._raw_change,
                HostedZoneId=zid,
                ChangeBatch={"Comment": comment[:256], "Changes": batch},
            )
        except ProviderError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _is_precondition(cause):
                done = (
                    f"requests 1-{n - 1} of {total} were applied, this one and later were not"
                    if n > 1
                    else "nothing was applied"
                )
                raise DriftError(
                    f"{zone}: Route53 refused the change because a record set changed since "
                    f"the plan was made ({_error_code(cause)}); {done}",
                    "run plan again and review the new diff",
                ) from exc
            raise
        return resp["ChangeInfo"]["Id"].split("/")[-1]

    def _raw_change(self, **kwargs: Any) -> Any:
        return self.client.change_resource_record_sets(**kwargs)

    # ------------------------------------------------------------------ wait, servers

    def wait(self, ref: ChangeRef) -> None:
        timeout = float(self.env.validation.timeout)
        for cid in ref.extra.get("changes", [ref.id] if ref.id else []):
            poll_change(self._status, cid, timeout)

    def _status(self, change_id: str) -> str:
        resp = self._call(f"GetChange {change_id}", self.client.get_change, Id=change_id)
        return resp["ChangeInfo"]["Status"]

    def nameservers(self, zone: str) -> list[str]:
        """The zone's delegation set, resolved to addresses on port 53."""
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


class _Retry(Exception):
    """Internal: a throttled call to be retried after a pause."""
