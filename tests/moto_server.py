"""moto's HTTP server on a free 127.0.0.1 port, wrapped so that it counts the requests it serves.

Used by the Route53/S3 tests and by bench/apply.py. The wrapper sits in front of moto's own WSGI
app (what `ThreadedMotoServer` and `moto_server` run) and only observes: it records one
(service, operation) per request so a test or the benchmark can say how many Route53 calls a
stage made. It also answers one call moto gets wrong for octodns-route53 1.3.1:
ListHealthChecks, whose reply from moto lacks `IsTruncated` (octodns reads it unconditionally).

And it makes moto 5.2.5 check a change batch the way AWS documents it (`aws_like_changes`):
moto checks a DELETE against its change *history* (any earlier CREATE with those values passes,
even after the record moved; values compared in order), and refuses a CREATE identical to one in
its history whenever any record sorts after that name, so re-creating a deleted record exactly,
which is what every rollback does, fails there. AWS checks the live record set: a DELETE must
name its current TTL and values (in any order), a CREATE must not find the name and type.
Its zone listing by name is made AWS-like too (`aws_like_zone_listing`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable

import requests
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

ROUTE53_OPS = [  # (method, path regex, operation), most specific first
    ("POST", r"/2013-04-01/hostedzone/[^/]+/rrset/?$", "ChangeResourceRecordSets"),
    ("GET", r"/2013-04-01/hostedzone/[^/]+/rrset/?$", "ListResourceRecordSets"),
    ("GET", r"/2013-04-01/hostedzonesbyname/?$", "ListHostedZonesByName"),
    ("GET", r"/2013-04-01/hostedzone/[^/]+/?$", "GetHostedZone"),
    ("GET", r"/2013-04-01/hostedzone/?$", "ListHostedZones"),
    ("POST", r"/2013-04-01/hostedzone/?$", "CreateHostedZone"),
    ("GET", r"/2013-04-01/change/[^/]+/?$", "GetChange"),
    ("GET", r"/2013-04-01/healthcheck/?$", "ListHealthChecks"),
]

EMPTY_HEALTH_CHECKS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListHealthChecksResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    b"<HealthChecks></HealthChecks><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>"
    b"</ListHealthChecksResponse>"
)


def operation(method: str, path: str) -> str:
    """A readable name for one request: Route53 operations by path, anything else by method."""
    if path.startswith("/2013-04-01/"):
        for m, pattern, op in ROUTE53_OPS:
            if m == method and re.match(pattern, path):
                return f"route53:{op}"
        return f"route53:{method} {path}"
    if path.startswith("/moto-api"):
        return "moto-api"
    return f"s3:{method}"


def aws_like_changes() -> None:
    """Patch moto's Route53 backend (this process only) to check batches against live sets."""
    from moto.route53 import models
    from moto.route53.exceptions import Route53ClientError

    if getattr(models.Route53Backend, "_aws_like", False):
        return
    original = models.Route53Backend.change_resource_record_sets

    def refuse(message: str) -> Exception:
        return Route53ClientError("InvalidChangeBatch", f"[{message}]")

    def key(rs: dict) -> tuple:
        return (rs["Name"].rstrip(".").lower(), rs["Type"], rs.get("SetIdentifier"))

    def checked(self, zoneid: str, change_list: list[dict]) -> None:
        zone = self.get_hosted_zone(zoneid)
        live = {
            key({"Name": r.name, "Type": r.type, "SetIdentifier": r.set_identifier}): (
                str(r.ttl),
                sorted(r.records or []),
            )
            for r in zone.rrsets
        }
        for change in change_list:
            rs = change["ResourceRecordSet"]
            if "AliasTarget" in rs:
                continue
            k = key(rs)
            values = sorted(r["Value"] for r in rs.get("ResourceRecords", []))
            where = f"name='{rs['Name']}', type='{rs['Type']}'"
            if change["Action"] == "CREATE":
                if k in live:
                    raise refuse(
                        f"Tried to create resource record set [{where}] but it already exists"
                    )
                live[k] = (str(rs.get("TTL")), values)
            elif change["Action"] == "DELETE":
                if k not in live:
                    raise refuse(
                        f"Tried to delete resource record set [{where}] but it was not found"
                    )
                if live[k] != (str(rs.get("TTL")), values):
                    raise refuse(
                        f"Tried to delete resource record set [{where}] but the values provided "
                        "do not match the current values"
                    )
                del live[k]
            else:
                live[k] = (str(rs.get("TTL")), values)
        history = zone.rr_changes
        saved = type(history).__contains__, type(history).has_insert_or_update
        # the batch is valid: let moto apply it without its own history-based checks
        with _PATCH_LOCK:
            type(history).__contains__ = lambda self, item: False
            type(history).has_insert_or_update = lambda self, rs: True
            try:
                return original(self, zoneid, change_list)
            finally:
                type(history).__contains__, type(history).has_insert_or_update = saved

    models.Route53Backend.change_resource_record_sets = checked
    models.Route53Backend._aws_like = True


_PATCH_LOCK = threading.Lock()


def aws_like_zone_listing() -> None:
    """Patch moto's ListHostedZonesByName (this process only) to list as AWS documents it.

    moto 5.2.5 returns only the zones named exactly `DNSName`, unpaged. AWS lists every zone
    in name order (labels reversed) starting at `DNSName` (and `HostedZoneId`), `MaxItems` a
    page, with IsTruncated / NextDNSName / NextHostedZoneId; a tool that finds all its zones
    with one listing needs that behaviour to be tested honestly.
    """
    from moto.core.responses import ActionResult
    from moto.route53 import responses

    if getattr(responses.Route53, "_aws_like_listing", False):
        return

    def order(name: str) -> tuple[str, ...]:
        return tuple(reversed(name.rstrip(".").lower().split(".")))

    def listing(self) -> ActionResult:
        dnsname = self._get_param("DNSName")
        start_id = self._get_param("HostedZoneId")
        max_items = int(self._get_param("MaxItems") or 100)
        zones = sorted(self.backend.zones.values(), key=lambda z: (order(z.name), z.resource_id))
        if dnsname:
            first = (order(dnsname), start_id or "")
            zones = [z for z in zones if (order(z.name), z.resource_id) >= first]
        page, rest = zones[:max_items], zones[max_items:]
        result = {"HostedZones": page, "IsTruncated": bool(rest), "MaxItems": str(max_items)}
        if dnsname:
            result["DNSName"] = dnsname
        if start_id:
            result["HostedZoneId"] = start_id
        if rest:
            result["NextDNSName"] = rest[0].name
            result["NextHostedZoneId"] = rest[0].resource_id
        return ActionResult(result)

    responses.Route53.list_hosted_zones_by_name = listing
    responses.Route53._aws_like_listing = True


class CountingApp:
    """WSGI middleware: counts requests by operation and fixes ListHealthChecks for octodns.

    Two switches for tests and benchmarks, both off by default:
    - `pending_changes`: answer each ChangeResourceRecordSets as AWS does, PENDING with an id
      of its own (moto answers INSYNC, always with the same id); moto's GetChange then says
      INSYNC at the first poll, so a client's GetChange calls can be counted;
    - `lose_changes`: for that many next ChangeResourceRecordSets, let moto apply the change and
      then close the connection without an answer (a lost answer, as after a network cut);
    - `drop_changes`: the same, but the connection closes before moto sees the change.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.pending_changes = False
        self.lose_changes = 0
        self.drop_changes = 0
        self._change_ids = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        op = operation(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        with self._lock:
            self.counts[op] += 1
        if op == "route53:ListHealthChecks":
            start_response("200 OK", [("Content-Type", "text/xml")])
            return [EMPTY_HEALTH_CHECKS]
        if op == "route53:ChangeResourceRecordSets":
            with self._lock:
                drop = self.drop_changes > 0
                self.drop_changes -= drop
            if drop:
                return _hang_up(environ)
            if self.pending_changes or self.lose_changes:
                return self._change(environ, start_response)
        return self.app(environ, start_response)

    def _change(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        captured: list = []

        def keep(status, headers, exc_info=None):
            captured[:] = [status, headers]

        body = b"".join(self.app(environ, keep))
        with self._lock:
            lose = self.lose_changes > 0
            self.lose_changes -= lose
            self._change_ids += 1
            n = self._change_ids
        if lose:
            return _hang_up(environ)
        status, headers = captured
        if self.pending_changes and status.startswith("200"):
            body = body.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
            body = body.replace(b"C2682N5HXP0BZ4", f"C{n:013d}".encode())
            headers = [(k, str(len(body)) if k.lower() == "content-length" else v)
                       for k, v in headers]  # fmt: skip
        start_response(status, headers)
        return [body]

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.lose_changes = self.drop_changes = 0

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


def _hang_up(environ: dict) -> list[bytes]:
    """Close the client's connection with no HTTP answer at all."""
    import socket

    environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
    return []


class MotoServer:
    """moto (every service) on 127.0.0.1:<free port>, in a daemon thread of this process."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        aws_like_changes()
        aws_like_zone_listing()
        self.app = CountingApp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def reset(self) -> None:
        """Forget every zone, bucket and object (moto's own reset endpoint)."""
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        self.app.reset_counts()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()

    def env(self, secret: str, region: str = "us-east-1") -> dict[str, str]:
        """The environment a client process needs to reach this server (fake credentials)."""
        return {
            "AWS_ENDPOINT_URL_ROUTE_53": self.url,
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": "AKIAMOTOTESTKEY00001",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
