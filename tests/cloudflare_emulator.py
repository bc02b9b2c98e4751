"""A small stdlib HTTP server that behaves like the Cloudflare v4 API for the calls we use.

No Cloudflare API emulator exists on PyPI (../shared/reference/test-infrastructure.md §3), so
this one copies the behaviours the official SDK and our provider depend on:

- everything under `/client/v4`, answered in the v4 envelope
  `{success, errors, messages, result}` plus `result_info` on lists;
- `Authorization: Bearer <token>` checked on every request (a wrong or missing token gets
  HTTP 403 with error code 10000 "Authentication error", as Cloudflare answers a bad token);
- `GET /zones?name=`, `GET /zones/{id}`, and `dns_records` list / get / create (POST) /
  full replace (PUT) / partial edit (PATCH) / DELETE;
- `page`/`per_page` paging that returns `result: []` for any page past the last one (the SDK
  keeps asking for page+1 until a page is empty and ignores `total_pages`); `type=`, `name=`
  and `name.exact=` filters, names compared without case and without the trailing dot;
- record objects with 32-hex ids, `proxied`, `proxiable`, MX `priority`, SRV `data`, `ttl`
  (1 = automatic; anything else below 60 or above 86400 is refused, code 9141 here);
- `proxied: true` refused on types that cannot be proxied (code 9004), a CNAME beside other
  records at a name refused (81053/81054), an identical record refused (81058);
- `POST /zones/{id}/dns_records/batch`: validated and applied on a copy in the order
  deletes -> patches -> puts -> posts, then swapped in, so it is all-or-nothing: one bad
  operation and nothing changes (HTTP 400 naming the operation).

Faults a test can queue, each for the next request that matches `method` and a path suffix
(`inject("POST", "/batch", ...)`): HTTP 429 with `Retry-After`, HTTP 5xx before or after the
request was applied (the "did it happen?" case the SDK would blindly retry), HTTP 200 with
`"success": false`, and a delay (for client timeouts). Every request is recorded in `requests`
so tests can count batch calls and assert no single-record writes.

Error codes other than 10000, 9004, 81053 and 81058 are stand-ins: the provider must not depend
on them, only on the HTTP status and the envelope.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/client/v4"
PROXIABLE = {"A", "AAAA", "CNAME"}
SUPPORTED = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "PTR"}


class ApiError(Exception):
    """One failed request: HTTP status plus Cloudflare-style error objects."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.errors = [{"code": code, "message": message}]


@dataclass
class Fault:
    method: str
    path_suffix: str
    kind: str  # "429" | "5xx_before" | "5xx_after" | "false" | "delay"
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class Zone:
    id: str
    name: str
    name_servers: list[str]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": "active",
            "paused": False,
            "type": "full",
            "name_servers": list(self.name_servers),
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bare(name: str) -> str:
    return name.strip().rstrip(".").lower()


class CloudflareEmulator:
    """The state and the HTTP server. Use as a context manager or call start()/stop()."""

    def __init__(self, token: str = "test-token", page_cap: int | None = None) -> None:
        self.token = token
        self.page_cap = page_cap  # caps per_page so small tests exercise paging
        self.zones: dict[str, Zone] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.stamps: list[float] = []  # time.monotonic() of each request, parallel to requests
        self.hooks: list[tuple[str, str, int, Callable[[], None]]] = []
        self.auth_headers: list[str] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> CloudflareEmulator:
        emu = self

        class Handler(_Handler):
            emulator = emu

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CloudflareEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "emulator not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    # ------------------------------------------------------------ test helpers

    def add_zone(self, name: str, zone_id: str | None = None) -> str:
        with self.lock:
            zid = zone_id or secrets.token_hex(16)
            self.zones[zid] = Zone(
                zid, _bare(name), ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]
            )
            return zid

    def zone(self, name: str) -> Zone:
        for z in self.zones.values():
            if z.name == _bare(name):
                return z
        raise KeyError(name)

    def add_record(self, zone: str, **body: Any) -> dict[str, Any]:
        """Seed one record through the same validation as POST (raises ApiError if invalid)."""
        with self.lock:
            z = self.zone(zone)
            rec = _new_record(z, body)
            _check_conflicts(z, rec)
            z.records[rec["id"]] = rec
            return copy.deepcopy(rec)

    def records(self, zone: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.zone(zone).records.values()))

    def inject(self, method: str, path_suffix: str, kind: str, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method.upper(), path_suffix, kind, **kw))

    def before_request(self, method: str, path_suffix: str, n: int, fn: Callable[[], None]) -> None:
        """Run `fn` (say, an out-of-band edit) just before the n-th matching request is handled."""
        with self.lock:
            self.hooks.append((method.upper(), path_suffix, n, fn))

    def _run_hooks(self, method: str, path: str) -> None:
        with self.lock:
            for m, suffix, n, fn in list(self.hooks):
                if m == method and path.endswith(suffix) and self.count(m, suffix) == n:
                    self.hooks.remove((m, suffix, n, fn))
                    fn()

    def count(self, method: str, path_suffix: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.endswith(path_suffix))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.method == method and path.endswith(f.path_suffix):
                    return self.faults.pop(i)
        return None

    # ------------------------------------------------------------ routing

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        parts = [p for p in path[len(PREFIX) :].split("/") if p]
        if parts == ["zones"] and method == "GET":
            return self._list_zones(query)
        if len(parts) >= 2 and parts[0] == "zones":
            z = self.zones.get(parts[1])
            if z is None:
                raise ApiError(
                    404,
                    7003,
                    "Could not route to /zones/..., perhaps your object identifier is invalid?",
                )
            rest = parts[2:]
            if not rest and method == "GET":
                return z.api()
            if rest == ["dns_records"] and method == "GET":
                return self._list_records(z, query)
            if rest == ["dns_records"] and method == "POST":
                rec = _new_record(z, body)
                _check_conflicts(z, rec)
                z.records[rec["id"]] = rec
                return rec
            if rest == ["dns_records", "batch"] and method == "POST":
                return self._batch(z, body or {})
            if len(rest) == 2 and rest[0] == "dns_records":
                return self._one_record(z, method, rest[1], body)
        raise ApiError(404, 7000, f"No route for that URI: {method} {path}")

    def _list_zones(self, query: dict[str, list[str]]) -> tuple[list, dict]:
        name = query.get("name", [None])[0]
        found = [z.api() for z in self.zones.values() if name is None or z.name == _bare(name)]
        return _page(found, query, default=20, cap=self.page_cap)

    def _list_records(self, z: Zone, query: dict[str, list[str]]) -> tuple[list, dict]:
        rtype = query.get("type", [None])[0]
        name = query.get("name.exact", query.get("name", [None]))[0]
        found = [
            r
            for r in sorted(
                z.records.values(), key=lambda r: (r["name"], r["type"], r["created_on"])
            )
            if (rtype is None or r["type"] == rtype) and (name is None or r["name"] == _bare(name))
        ]
        return _page(found, query, default=100, cap=self.page_cap)

    def _one_record(self, z: Zone, method: str, rid: str, body: Any) -> Any:
        if rid not in z.records:
            raise ApiError(404, 81044, "Record does not exist.")
        if method == "GET":
            return z.records[rid]
        if method == "DELETE":
            del z.records[rid]
            return {"id": rid}
        if method in ("PUT", "PATCH"):
            old = z.records[rid]
            merged = {**_writable(old), **(body or {})} if method == "PATCH" else dict(body or {})
            rec = _new_record(z, merged, rid=rid, created=old["created_on"])
            _check_conflicts(z, rec, ignore={rid})
            z.records[rid] = rec
            return rec
        raise ApiError(405, 10405, f"Method {method} not allowed")

    def _batch(self, z: Zone, body: dict[str, Any]) -> dict[str, list]:
        """All-or-nothing: work on a copy in Cloudflare's order, swap it in only if all succeed."""
        work = Zone(z.id, z.name, z.name_servers, copy.deepcopy(z.records))
        out: dict[str, list] = {"deletes": [], "patches": [], "puts": [], "posts": []}
        for section, method in (("deletes", "DELETE"), ("patches", "PATCH"), ("puts", "PUT")):
            for i, op in enumerate(body.get(section) or []):
                rid = (op or {}).get("id")
                if not rid:
                    raise ApiError(400, 1004, f"{section}[{i}]: id is required")
                payload = {k: v for k, v in op.items() if k != "id"}
                try:
                    out[section].append(self._one_record(work, method, rid, payload))
                except ApiError as exc:
                    raise ApiError(400, exc.errors[0]["code"], f"{section}[{i}]: {exc}") from exc
        for i, op in enumerate(body.get("posts") or []):
            try:
                rec = _new_record(work, op)
                _check_conflicts(work, rec)
            except ApiError as exc:
                raise ApiError(400, exc.errors[0]["code"], f"posts[{i}]: {exc}") from exc
            work.records[rec["id"]] = rec
            out["posts"].append(rec)
        z.records = work.records
        return out


def _page(
    items: list, query: dict[str, list[str]], default: int, cap: int | None
) -> tuple[list, dict]:
    page = max(int(float(query.get("page", ["1"])[0])), 1)
    per_page = max(int(float(query.get("per_page", [str(default)])[0])), 1)
    if cap:
        per_page = min(per_page, cap)
    chunk = items[(page - 1) * per_page : page * per_page]  # [] past the last page
    total_pages = (len(items) + per_page - 1) // per_page
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": total_pages,
    }
    return copy.deepcopy(chunk), info


def _writable(rec: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "type", "content", "ttl", "proxied", "priority", "data", "comment", "tags")
    return {k: rec[k] for k in keys if k in rec and rec[k] is not None}


def _new_record(
    z: Zone, body: Any, rid: str | None = None, created: str | None = None
) -> dict[str, Any]:
    """Validate a record body as Cloudflare does (for the fields we use) and build the object."""
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid.")
    rtype = str(body.get("type") or "").upper()
    if rtype not in SUPPORTED:
        raise ApiError(400, 9000, f"DNS record type {rtype!r} is invalid.")
    name = _bare(str(body.get("name") or ""))
    if name == "@":
        name = z.name
    elif name and not (name == z.name or name.endswith("." + z.name)):
        name = f"{name}.{z.name}"  # Cloudflare accepts names relative to the zone
    if not name:
        raise ApiError(400, 9007, "DNS record name is required.")
    ttl = body.get("ttl", 1)
    if not isinstance(ttl, int | float) or not (int(ttl) == 1 or 60 <= int(ttl) <= 86400):
        raise ApiError(400, 9141, "TTL must be between 60 and 86400 seconds, or 1 for Automatic.")
    proxied = bool(body.get("proxied", False))
    if proxied and rtype not in PROXIABLE:
        raise ApiError(400, 9004, "This record type cannot be proxied.")
    data = body.get("data")
    content = body.get("content")
    priority = body.get("priority")
    if rtype == "SRV":
        if not isinstance(data, dict) or not all(
            k in data for k in ("priority", "weight", "port", "target")
        ):
            raise ApiError(400, 9101, "SRV records need data.priority, weight, port and target.")
        data = {k: data[k] for k in ("priority", "weight", "port", "target")}
        content = f"{int(data['weight'])} {int(data['port'])} {data['target']}"
        priority = data["priority"]
    elif not isinstance(content, str) or not content:
        raise ApiError(400, 9005, "Content for the record is invalid.")
    if rtype == "MX" and (priority is None or not 0 <= int(priority) <= 65535):
        raise ApiError(400, 9100, "MX records need a priority between 0 and 65535.")
    if rtype == "TXT" and len(content.encode()) > 4096:
        raise ApiError(400, 9101, "Content for TXT record is too long.")
    now = _now()
    rec: dict[str, Any] = {
        "id": rid or secrets.token_hex(16),
        "zone_id": z.id,
        "zone_name": z.name,
        "name": name,
        "type": rtype,
        "content": content.rstrip(".") if rtype in ("CNAME", "MX", "NS", "PTR") else content,
        "proxiable": rtype in PROXIABLE,
        "proxied": proxied,
        "ttl": int(ttl),
        "settings": {},
        "meta": {},
        "comment": body.get("comment"),
        "tags": list(body.get("tags") or []),
        "created_on": created or now,
        "modified_on": now,
    }
    if rtype in ("MX", "SRV", "URI"):
        rec["priority"] = int(priority)
    if data is not None:
        rec["data"] = data
    return rec


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["name"], a["type"], a["content"], a.get("priority")) == (
        b["name"],
        b["type"],
        b["content"],
        b.get("priority"),
    )


def _check_conflicts(z: Zone, rec: dict[str, Any], ignore: set[str] | None = None) -> None:
    ignore = ignore or set()
    others = [r for r in z.records.values() if r["id"] not in ignore and r["name"] == rec["name"]]
    if any(_same(r, rec) for r in others):
        raise ApiError(400, 81058, "An identical record already exists.")
    if rec["type"] == "CNAME" and others:
        raise ApiError(
            400, 81053, "A CNAME record with that host already exists or another record exists."
        )
    if rec["type"] != "CNAME" and any(r["type"] == "CNAME" for r in others):
        raise ApiError(400, 81054, "A CNAME record with that host already exists.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is expected in fault tests: stay quiet."""
        return None


class _Handler(BaseHTTPRequestHandler):
    emulator: CloudflareEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return None

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self, status: int, errors: list[dict], headers: dict[str, str] | None = None
    ) -> None:
        self._send(
            status, {"success": False, "errors": errors, "messages": [], "result": None}, headers
        )

    def _dispatch(self, method: str) -> None:
        emu = self.emulator
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with emu.lock:
            emu.requests.append((method, url.path))
            emu.stamps.append(time.monotonic())
            emu._run_hooks(method, url.path)
            emu.auth_headers.append(self.headers.get("Authorization", ""))
        if self.headers.get("Authorization") != f"Bearer {emu.token}":
            return self._error(403, [{"code": 10000, "message": "Authentication error"}])
        if not url.path.startswith(PREFIX):
            return self._error(404, [{"code": 7000, "message": "No route for that URI"}])
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._error(400, [{"code": 9207, "message": "Request body is invalid."}])
        fault = emu._take_fault(method, url.path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "429":
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            msg = "Please wait and consider throttling your request speed"
            return self._error(429, [{"code": 971, "message": msg}], headers)
        if fault is not None and fault.kind == "5xx_before":
            return self._error(fault.status, [{"code": 10001, "message": "Internal server error"}])
        if fault is not None and fault.kind == "false":  # HTTP 200, nothing done
            failed = {"code": 1000, "message": "injected failure"}
            return self._send(
                200, {"success": False, "errors": [failed], "messages": [], "result": None}
            )
        try:
            with emu.lock:
                result = emu.handle(method, url.path, parse_qs(url.query), body)
        except ApiError as exc:
            return self._error(exc.status, exc.errors)
        if fault is not None and fault.kind == "5xx_after":  # applied, but the client never hears
            return self._error(fault.status, [{"code": 10001, "message": "Internal server error"}])
        payload: dict[str, Any] = {"success": True, "errors": [], "messages": []}
        if isinstance(result, tuple):
            payload["result"], payload["result_info"] = result
        else:
            payload["result"] = copy.deepcopy(result)
        self._send(200, payload)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
