"""Cloudflare DNS through the official `cloudflare` SDK (5.x) and its batch endpoint.

Why it looks the way it does:

- Cloudflare stores each value as its own record object with an id, so one of our RRsets is a
  group of records. A change is turned into per-value operations: values that stay keep their
  record (and id; a TTL change is a PATCH), values that go are deleted, new values are posted.
  Records at a shared name that we do not own (google-site-verification=) keep their ids.
- All operations of one zone go in ONE `dns.records.batch` call. Cloudflare runs it as one
  database transaction in the order deletes -> patches -> puts -> posts, which is the only way
  to swap an MX set there without a moment of a mixed or empty set.
- Cloudflare has no precondition on writes, so right before the batch the touched names are
  read again and the batch is refused (DriftError, nothing sent) if they moved since the plan.
- The SDK retries POSTs on 5xx/timeouts without an idempotency key, which could apply a batch
  twice. The client therefore runs with `max_retries=0`; after a 5xx or a timeout on the batch
  we read back to learn whether it was applied instead of sending it again. 429s were refused
  before anything happened, so those are retried here, after the server's Retry-After.
- An HTTP 200 with `"success": false` is an error (the SDK would hand back `None`): every call
  goes through `with_raw_response` and the envelope is checked before the result is used.
- TTL 1 means "automatic" at Cloudflare; anything else below 60 is refused by the API, so it is
  a config error when the provider is built (at plan time), not a failure halfway through.
- `proxied` is always sent as false: a proxied mail record would answer with Cloudflare's IPs.
- The token comes only from CLOUDFLARE_API_TOKEN; the SDK itself reads CLOUDFLARE_BASE_URL,
  which is how tests point it at tests/cloudflare_emulator.py. The token is never put in an
  error message (only the API's own error codes and messages are).
"""

from __future__ import annotations

import email.utils
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError, CutoverError, ProviderError
from ..records import RRset, fqdn, index, value_key
from ..rrtypes import HOST_TYPES, bare_host, host_value, mx_fields, mx_value, srv_fields, srv_value
from .base import ChangeRef, Provider, check_drift
from .contract import Capabilities, Integer, Seconds

MIN_TTL = 60
AUTO_TTL = 1
AUTO_TTL_SERVED = 300  # what Cloudflare's nameservers answer for an automatic TTL
PAGE_SIZE = 100
MAX_PAGES = 10_000
RATE_LIMIT_ATTEMPTS = 6
MAX_RETRY_AFTER = 300.0  # a longer Retry-After is reported rather than slept through
READ_RETRIES = 2  # GETs are safe to repeat after a 5xx or a connection error


def _bare(name: str) -> str:
    return fqdn(name).rstrip(".")


def ttl_problem(ttl: int) -> str | None:
    """Why Cloudflare would refuse this TTL, or None when it is fine (1 = automatic)."""
    if ttl == AUTO_TTL or ttl >= MIN_TTL:
        return None
    return f"{ttl} is below Cloudflare's {MIN_TTL}-second minimum (1 means automatic)"


# ---------------------------------------------------------------- record mapping


def record_value(rec: dict[str, Any]) -> str:
    """One Cloudflare record object as one value in DNS presentation format."""
    rtype = rec["type"]
    content = str(rec.get("content") or "")
    if rtype == "MX":
        return mx_value(int(rec.get("priority") or 0), content)
    if rtype in HOST_TYPES:
        return host_value(content)
    if rtype == "SRV":
        data = rec.get("data") or {}
        if data:
            return srv_value(data["priority"], data["weight"], data["port"], str(data["target"]))
        # the older spelling: priority apart, "weight port target" in content
        return f"{int(rec.get('priority') or 0)} {host_value(content)}"
    return content  # TXT quoted or not: RRset normalisation handles both


def to_rrsets(records: Iterable[dict[str, Any]]) -> list[RRset]:
    """Group records into RRsets. Records of one RRset with different TTLs take the largest,
    so the TTL gate waits long enough for every cached copy."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault((fqdn(rec["name"]), rec["type"].upper()), []).append(rec)
    return [
        RRset(name, rtype, max(int(r["ttl"]) for r in recs), tuple(record_value(r) for r in recs))
        for (name, rtype), recs in sorted(groups.items())
    ]


def record_body(rrset: RRset, value: str) -> dict[str, Any]:
    """The API body that creates one value of `rrset`; proxied is always false."""
    body: dict[str, Any] = {
        "name": rrset.name.rstrip("."),
        "type": rrset.type,
        "ttl": rrset.ttl,
        "proxied": False,
    }
    if rrset.type == "MX":
        body["priority"], host = mx_fields(value)
        body["content"] = bare_host(host)
    elif rrset.type == "SRV":
        pri, weight, port, target = srv_fields(value)
        body["data"] = {
            "priority": pri,
            "weight": weight,
            "port": port,
            "target": bare_host(target),
        }
    elif rrset.type in HOST_TYPES:
        body["content"] = bare_host(value)
    else:
        body["content"] = value  # TXT in presentation form: quoted, split at 255 bytes
    return body


def batch_operations(plan, live: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The per-record operations that take the live records to every `after` of the plan."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in live:
        by_key.setdefault((fqdn(rec["name"]), rec["type"].upper()), []).append(rec)
    ops: dict[str, list[dict[str, Any]]] = {"deletes": [], "patches": [], "posts": []}
    for change in plan.changes:
        records = by_key.get(change.key, [])
        after = change.after
        if after is None:
            ops["deletes"] += [{"id": r["id"]} for r in records]
            continue
        wanted = {value_key(after.type, v): v for v in after.values}
        kept: set[str] = set()
        for rec in records:
            key = value_key(after.type, record_value(rec))
            if key in wanted and key not in kept:
                kept.add(key)  # same value: keep the record and its id
                if int(rec["ttl"]) != after.ttl or rec.get("proxied"):
                    ops["patches"].append(
                        {
                            "id": rec["id"],
                            "name": rec["name"],
                            "type": rec["type"],
                            "ttl": after.ttl,
                            "proxied": False,
                        }
                    )
            else:
                ops["deletes"].append({"id": rec["id"]})
        ops["posts"] += [record_body(after, v) for k, v in wanted.items() if k not in kept]
    return ops


# ---------------------------------------------------------------- the provider


class CloudflareProvider(Provider):
    """Options: `max_concurrency` (API calls in flight at once across zones, default 4),
    `timeout` (seconds per API request, default 30). Per domain: `zone_id` skips the lookup."""

    options_schema = {
        "max_concurrency": Integer(low=1, high=64, doc="API calls in flight at once (default 4)"),
        "timeout": Seconds(doc="seconds per API request (default 30)"),
    }
    # one batch call per zone, run as one transaction; no precondition, so a re-read first
    capabilities = Capabilities(
        atomic_per_zone=True,
        drift_check="reread",
        ttl_floor=MIN_TTL,
        auto_ttl=AUTO_TTL,
        auto_ttl_served=AUTO_TTL_SERVED,
    )

    def __init__(self, env) -> None:
        super().__init__(env)
        self._check_options()
        token = os.environ.get("CLOUDFLARE_API_TOKEN")
        if not token:
            raise ConfigError(
                "CLOUDFLARE_API_TOKEN is not set",
                "export an API token with DNS edit rights on the zones (never put it in the YAML)",
            )
        from cloudflare import Cloudflare

        self._client = Cloudflare(api_token=token, max_retries=0, timeout=self._timeout)
        # the token only: never fall back to CLOUDFLARE_API_KEY/EMAIL found in the environment
        self._client.api_key = None
        self._client.api_email = None
        self._client.user_service_key = None
        self._slots = threading.BoundedSemaphore(self._concurrency)
        self._zone_ids: dict[str, str] = {}
        self.batches = 0  # batch requests sent, for reports and tests

    def _check_options(self) -> None:
        # their shape was checked against options_schema when the file was loaded
        self._concurrency = int(self.options.get("max_concurrency") or 4)
        self._timeout = float(self.options.get("timeout") or 30)
        for key, ttl in (("ttl.cutover", self.env.ttl_cutover), ("ttl.final", self.env.ttl_final)):
            problem = ttl_problem(ttl)
            if problem:
                raise ConfigError(
                    f"{self.env.path}: {key}: {problem}",
                    "use 60 or more, or 1 for automatic",
                )

    # ------------------------------------------------------------ API calls

    def _call(
        self,
        what: str,
        fn: Callable[[], Any],
        *,
        idempotent: bool = True,
        not_found: CutoverError | None = None,
    ) -> dict:
        """One API call: the v4 envelope as a dict, `success` checked, 429s waited out.

        Non-idempotent calls (the batch) let 5xx and timeouts through as SDK exceptions so the
        caller can read back; idempotent ones (GETs) are retried a few times instead.
        """
        import cloudflare

        failures = 0
        for attempt in range(RATE_LIMIT_ATTEMPTS):
            try:
                with self._slots:
                    raw = fn()
                envelope = raw.http_response.json()
            except cloudflare.RateLimitError as exc:
                wait = _retry_after(exc.response.headers, attempt)
                if wait > MAX_RETRY_AFTER or attempt == RATE_LIMIT_ATTEMPTS - 1:
                    raise ProviderError(
                        f"cloudflare {what}: rate limited (HTTP 429, Retry-After {wait:.0f}s)",
                        "wait and run again",
                    ) from None
                time.sleep(wait)
                continue
            except (cloudflare.InternalServerError, cloudflare.APIConnectionError) as exc:
                if not idempotent or failures >= READ_RETRIES:
                    if not idempotent:
                        raise
                    raise ProviderError(f"cloudflare {what}: {_describe(exc)}") from None
                failures += 1
                time.sleep(0.2 * 2**failures)
                continue
            except cloudflare.APIStatusError as exc:
                if exc.status_code == 404 and not_found is not None:
                    raise not_found from None
                raise _status_error(what, exc) from None
            except ValueError:
                raise ProviderError(f"cloudflare {what}: the answer was not JSON") from None
            if not isinstance(envelope, dict) or envelope.get("success") is not True:
                errors = envelope.get("errors") if isinstance(envelope, dict) else None
                raise ProviderError(
                    f"cloudflare {what}: the API answered success=false: {_errors(errors)}",
                    "nothing was changed by this call; check the zone and the token's rights",
                )
            return envelope
        raise AssertionError("unreachable")

    def _zone_id(self, zone: str) -> str:
        zone = fqdn(zone)
        if zone in self._zone_ids:
            return self._zone_ids[zone]
        for d in self.env.domains:
            if fqdn(d.name) == zone and d.zone_id:
                self._zone_ids[zone] = str(d.zone_id)
                return self._zone_ids[zone]
        name = zone.rstrip(".")
        env = self._call(
            f"zone lookup {name}",
            lambda: self._client.zones.with_raw_response.list(name=name, per_page=50),
        )
        ids = [z["id"] for z in env.get("result") or [] if _bare(z.get("name", "")) == name]
        if not ids:
            raise ConfigError(
                f"cloudflare: zone {name} not found (or the API token cannot see it)",
                f"check domains.{name} in {self.env.path}, the token's zone permissions, "
                "or set its zone_id",
            )
        self._zone_ids[zone] = ids[0]
        return ids[0]

    def _records(self, zone: str, names: Iterable[str]) -> list[dict[str, Any]]:
        """Every record object at `names`, all types, following pages until an empty one."""
        zid = self._zone_id(zone)
        missing = ConfigError(
            f"cloudflare: zone {_bare(zone)} (zone_id {zid}) not found",
            f"check domains.{_bare(zone)}.zone_id in {self.env.path}",
        )
        out: list[dict[str, Any]] = []
        for name in sorted({fqdn(n) for n in names}):
            bare = name.rstrip(".")
            for page in range(1, MAX_PAGES + 1):
                env = self._call(
                    f"list {bare} in zone {_bare(zone)}",
                    lambda page=page, bare=bare: self._client.dns.records.with_raw_response.list(
                        zone_id=zid, name={"exact": bare}, page=page, per_page=PAGE_SIZE
                    ),
                    not_found=missing,
                )
                chunk = env.get("result") or []
                out += [r for r in chunk if fqdn(r["name"]) == name]
                total = (env.get("result_info") or {}).get("total_pages")
                if not chunk or (isinstance(total, int) and page >= total):
                    break
        return out

    # ------------------------------------------------------------ the interface

    def read(self, zone: str, names: Iterable[str]) -> list[RRset]:
        return to_rrsets(self._records(zone, names))

    def apply(self, zone: str, plan) -> ChangeRef:
        import cloudflare

        zone = fqdn(zone)
        for change in plan.changes:
            problem = ttl_problem(change.after.ttl) if change.after else None
            if problem:
                raise ConfigError(
                    f"{zone}: {change.key[0]} {change.key[1]}: TTL {problem}; nothing was applied",
                    nothing_written=True,
                )
        names = {c.key[0] for c in plan.changes}
        zid = self._zone_id(zone)
        live = self._records(zone, names)
        check_drift(zone, plan, to_rrsets(live))
        ops = batch_operations(plan, live)
        counts = {k: len(v) for k, v in ops.items()}
        if not any(counts.values()):
            return ChangeRef(zone=zone, extra={"operations": counts})
        self.batches += 1
        try:
            self._call(
                f"batch for zone {_bare(zone)}",
                lambda: self._client.dns.records.with_raw_response.batch(
                    zone_id=zid, **{k: v for k, v in ops.items() if v}
                ),
                idempotent=False,
            )
        except (cloudflare.InternalServerError, cloudflare.APIConnectionError) as exc:
            # a request we gave up on may still be in flight: watch for it a little longer
            in_flight = isinstance(exc, cloudflare.APIConnectionError)
            grace = 2 * self._timeout + 1 if in_flight else 1.0
            self._read_back(zone, plan, names, _describe(exc), grace)
            return ChangeRef(zone=zone, extra={"operations": counts, "read_back": True})
        return ChangeRef(zone=zone, extra={"operations": counts})

    def _read_back(self, zone: str, plan, names: set[str], failure: str, grace: float) -> None:
        """After an answer we never got: applied (return), not applied or unknown (raise).

        Keeps looking for `grace` seconds: after a timeout the request may still be queued at
        Cloudflare, and one read spans several requests that can straddle the commit, so "not
        applied" is only concluded once the batch has had time to land.
        """
        deadline = time.monotonic() + grace
        while True:
            try:
                now = index(self.read(zone, names))
            except CutoverError as exc:
                raise ProviderError(
                    f"{zone}: the batch failed ({failure}) and reading it back failed too "
                    f"({exc.message}); whether it was applied is unknown",
                    "run `invoke plan` to see the live records before anything else",
                ) from None
            if all(now.get(c.key) == c.after for c in plan.changes):
                return  # it was applied: the 5xx/timeout came after the commit
            untouched = all(now.get(c.key) == c.before for c in plan.changes)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)  # a read spans several requests and may straddle the commit
        if untouched:
            raise ProviderError(
                f"{zone}: the Cloudflare batch failed ({failure}); "
                f"read back {grace:.0f}s later: nothing was applied",
                "run the same stage again",
                nothing_written=True,
            )
        raise ProviderError(
            f"{zone}: the Cloudflare batch failed ({failure}) and the live records match neither "
            "the plan nor the state it was made against",
            "run `invoke plan` and review before anything else",
        )

    def nameservers(self, zone: str) -> list[str]:
        """The zone's assigned Cloudflare nameservers, resolved to addresses for the checks."""
        zid = self._zone_id(zone)
        env = self._call(
            f"zone details {_bare(zone)}",
            lambda: self._client.zones.with_raw_response.get(zone_id=zid),
        )
        out = []
        for host in (env.get("result") or {}).get("name_servers") or []:
            try:
                infos = socket.getaddrinfo(host, 53, proto=socket.IPPROTO_UDP)
            except OSError as exc:
                raise ProviderError(
                    f"cloudflare: cannot resolve nameserver {host}: {exc}"
                ) from None
            for family, *_rest, addr in infos:
                out.append(f"[{addr[0]}]:53" if family == socket.AF_INET6 else f"{addr[0]}:53")
        return sorted(set(out))

    def close(self) -> None:
        self._client.close()


def _retry_after(headers: Any, attempt: int) -> float:
    """Seconds the server asked us to wait (Retry-After: seconds or HTTP date), else backoff."""
    value = headers.get("retry-after") if headers is not None else None
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(when.timestamp() - time.time(), 0.0)
    return min(0.5 * 2**attempt, 8.0)


def _errors(errors: Any) -> str:
    if not errors:
        return "no error given"
    parts = []
    for e in errors if isinstance(errors, list) else [errors]:
        if isinstance(e, dict):
            parts.append(f"{e.get('code', '?')} {e.get('message', '')}".strip())
        else:
            parts.append(str(e))
    return "; ".join(parts)


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    if status is not None:
        body = getattr(exc, "body", None)
        errors = body.get("errors") if isinstance(body, dict) else None
        return f"HTTP {status}: {_errors(errors)}"
    return type(exc).__name__.replace("API", "").replace("Error", " error").strip()


def _status_error(what: str, exc: Any) -> CutoverError:
    text = f"cloudflare {what}: {_describe(exc)}"
    if exc.status_code in (401, 403):
        return ProviderError(text, "check CLOUDFLARE_API_TOKEN and its DNS edit permission")
    return ProviderError(text)
