"""A real PowerDNS Authoritative Server for tests: gsqlite3 backend, HTTP API, free loopback ports.

Started in the foreground (`--guardian=no --daemon=no`) with its own config and socket dirs in a
temporary directory, every cache off so an API write is served by the next query, and zones
created through the API exactly as an admin would. The API key is random per server; tests hand
it to the CLI only through an environment variable, as a user would.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone

from tests.servers import free_port, require, stop_process, wait_for_soa

SCHEMA_PATHS = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
)


@dataclass
class PowerDNS:
    """A running pdns_server: its DNS port, its API (port and key), how to stop it."""

    port: int
    api_port: int
    api_key: str
    workdir: Path
    proc: subprocess.Popen | None = None
    zones: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)

    # -- the HTTP API, as another admin (or a test reading the truth) uses it
    def api(self, method: str, path: str, body: Any = None) -> Any:
        url = f"http://127.0.0.1:{self.api_port}/api/v1/servers/localhost/{path.lstrip('/')}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("X-API-Key", self.api_key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"PowerDNS API {method} {path}: {exc.code} {exc.read()!r}") from exc
        return json.loads(raw) if raw else None

    def rrsets(self, zone: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """Every RRset of the zone but the SOA, from the API: (name, type) -> (ttl, contents)."""
        data = self.api("GET", f"zones/{zone.rstrip('.')}.")
        return {
            (r["name"], r["type"]): (r["ttl"], sorted(rec["content"] for rec in r["records"]))
            for r in data["rrsets"]
            if r["type"] != "SOA"
        }

    def serial(self, zone: str) -> int:
        return int(self.api("GET", f"zones/{zone.rstrip('.')}.")["serial"])

    def replace(self, zone: str, name: str, rtype: str, ttl: int, *contents: str) -> None:
        """Replace one RRset through the API (another admin's change)."""
        rrset = {
            "name": name,
            "type": rtype,
            "ttl": ttl,
            "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in contents],
        }
        self.api("PATCH", f"zones/{zone.rstrip('.')}.", {"rrsets": [rrset]})

    def create_zone(self, zone: str, text: str) -> None:
        """Create a zone from zone-file text through the API (SOA and NS included)."""
        origin = zone.rstrip(".") + "."
        z = dns.zone.from_text(text, origin=origin, relativize=False)
        rrsets = []
        for name, rds in z.iterate_rdatasets():
            rrsets.append(
                {
                    "name": name.to_text(),
                    "type": dns.rdatatype.to_text(rds.rdtype),
                    "ttl": rds.ttl,
                    "changetype": "REPLACE",
                    "records": [{"content": rd.to_text(), "disabled": False} for rd in rds],
                }
            )
        self.api(
            "POST",
            "zones",
            {"name": origin, "kind": "Native", "nameservers": [], "rrsets": rrsets},
        )
        self.zones.append(origin)


def _schema() -> str:
    for path in SCHEMA_PATHS:
        if path.is_file():
            return path.read_text()
    raise RuntimeError("the gsqlite3 schema is missing; run `bash .ci/run` (pdns-backend-sqlite3)")


def _wait_api(srv: PowerDNS, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"pdns_server exited with {proc.returncode}: {err}")
        try:
            srv.api("GET", "zones")
            return
        except (RuntimeError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"PowerDNS API not up on 127.0.0.1:{srv.api_port} after {timeout}s")


def start_powerdns(workdir: Path, zone_files: dict[str, str]) -> PowerDNS:
    """pdns_server serving `zone_files` ({zone: text}), each created through the API."""
    pdns = require("pdns_server")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "sock").mkdir(exist_ok=True)
    db = workdir / "pdns.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(_schema())
    port, api_port = free_port(), free_port()
    while api_port == port:
        api_port = free_port()
    srv = PowerDNS(port, api_port, secrets.token_hex(24), workdir)
    conf = f"""launch=gsqlite3
gsqlite3-database={db}
local-address=127.0.0.1:{port}
api=yes
api-key={srv.api_key}
webserver=yes
webserver-address=127.0.0.1
webserver-port={api_port}
webserver-allow-from=127.0.0.0/8
socket-dir={workdir / "sock"}
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
zone-cache-refresh-interval=0
disable-syslog=yes
loglevel=3
"""
    (workdir / "pdns.conf").write_text(conf)
    argv = [pdns, f"--config-dir={workdir}", "--guardian=no", "--daemon=no"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    srv.proc = proc
    try:
        _wait_api(srv, proc)
        for zone, text in zone_files.items():
            srv.create_zone(zone, text)
        for zone in zone_files:
            wait_for_soa(port, zone.rstrip(".") + ".", proc=proc)
    except Exception:
        srv.stop()
        raise
    return srv
