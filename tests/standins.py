"""One embedded DNS server for the whole test run, serving the demo's stand-in zones.

Environments on other providers (Cloudflare emulator, moto, Knot) still need somewhere to look
up the outside names their records point at (`_spf.google.com`, the Microsoft DKIM targets) when
lint runs; this is that resolver, on loopback, never the internet.
"""

from __future__ import annotations

import atexit

from cutover.dnsserver import DNSServer
from tests.conftest import REPO

_server: DNSServer | None = None


def standins_address() -> str:
    global _server
    if _server is None:
        _server = DNSServer([REPO / "demo" / "standins"]).start()
        atexit.register(_server.stop)
    return _server.address
