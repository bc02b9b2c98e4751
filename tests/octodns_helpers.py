"""The demo project on PowerDNS through the octoDNS bridge (octodns-powerdns), and read-backs.

PowerDNS serves the (fast) demo zones plus the stand-ins, so lint and verification ask it; the
API key reaches the CLI only through the environment variable PDNS_API_KEY, named in the file as
`env/PDNS_API_KEY`, as octoDNS users write it.
"""

from __future__ import annotations

from pathlib import Path

from tests.lifecycle_helpers import write_server_env

KEY_ENV = "PDNS_API_KEY"
ENV = "pdns"
ZONES = ("example.com", "example.org")
EXTRA = {  # records no profile ever writes, which must come through every stage byte-identical
    "example.com": (
        '@ 10 IN CAA 0 issue "letsencrypt.org"\n'
        "_sip._tls 10 IN SRV 100 1 443 sipdir.example.net.\n"
        'long 10 IN TXT "' + "k" * 250 + '" "tail;semi"\n'
    ),
}


def pdns_zones(project: Path, zones=ZONES) -> dict[str, str]:
    """{zone: text}: the demo zones (with the EXTRA records) and the stand-ins."""
    out = {}
    for z in zones:
        out[z] = (project / "demo" / "zones" / f"{z}.zone").read_text() + EXTRA.get(z, "")
    for path in sorted((project / "demo" / "standins").glob("*.zone")):
        out[path.stem] = path.read_text()
    return out


def write_env(project: Path, srv, name: str = ENV, **provider) -> Path:
    """environments/<name>.yaml: the demo's migration on PowerDNS through the octoDNS bridge."""
    opts = {
        "type": "octodns",
        "class": "octodns_powerdns.PowerDnsProvider",
        "options": {
            "host": "127.0.0.1",
            "port": srv.api_port,
            "api_key": f"env/{KEY_ENV}",
            "timeout": 5,
            "enable_dynamic": False,  # no LUA records: skips the probe and its warning
        },
        "nameservers": [srv.address],
    }
    opts.update(provider)
    return write_server_env(project, name, opts, srv.address)


def key_env(srv) -> dict[str, str]:
    return {KEY_ENV: srv.api_key}


def state(srv, zones=ZONES) -> dict[str, dict]:
    """Every RRset but the SOA of each zone, as PowerDNS's API holds it."""
    return {z: srv.rrsets(z) for z in zones}
