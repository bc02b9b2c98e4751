"""Fixtures for the Cloudflare tests: a running emulator seeded with three mail zones that also
hold records the tool must never touch, and an environment file that points at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cloudflare_emulator import CloudflareEmulator
from tests.standins import standins_address

TOKEN = "cf-test-token-4f1d2c9b8a7e6d5c"  # a distinctive string: tests grep files for it
ZONES = ("example.com", "example.org", "example.net")
DKIM = (
    '"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAua1ij3CE7Ws2rO+CPHPKBycettWTMx'
    "ExJ56NHfwTqHdgFG4gBXEL20wfLyvj0jrqdvhEsytSrVB1TJYtm1qZAZubPiB97ij8YzWsY7gMOkv0Uef8IKTy6VBkgfi"
    'q7FdTSD5IBVB+6rx/LCpO7kYHJlqLEhs3XWBpekIqLJjk5pwqGZnorRNV+b/7IWzwqaKi+" "3ZwRfVnp63i6bvftUU5ss6'
    '1J2n3X7Ihqrf/paanFv108RYf2lSd09jP1hgqNQdWWiMaMc54BbF7V8c4qLmg3f5LtdqwH2wrGrYdnbGPxLH3kBEgJYNM"'
)


def seed(emu: CloudflareEmulator, zone: str) -> None:
    """A zone on Google Workspace, with records nobody asked us to manage."""
    emu.add_zone(zone)
    add = emu.add_record
    add(zone, name=zone, type="MX", content="smtp.google.com", priority=1, ttl=3600)
    add(zone, name=zone, type="TXT", content='"v=spf1 include:_spf.google.com ~all"', ttl=3600)
    add(zone, name=zone, type="TXT", content="google-site-verification=demo-Xy12AbCd", ttl=3600)
    add(zone, name=zone, type="TXT", content='"unrelated-service-token=keep-me-exactly"', ttl=3600)
    add(zone, name=f"google._domainkey.{zone}", type="TXT", content=DKIM, ttl=3600)
    add(zone, name=f"_dmarc.{zone}", type="TXT", content=f'"v=DMARC1; p=none; rua=mailto:dmarc@{zone}"', ttl=3600)  # fmt: skip
    add(zone, name=f"www.{zone}", type="A", content="192.0.2.10", ttl=1, proxied=True)
    add(zone, name=zone, type="A", content="192.0.2.11", ttl=300)


def environment(zones: tuple[str, ...] = ZONES, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": {"type": "cloudflare", "max_concurrency": 2},
        "migration": {"from": "google-workspace", "to": "microsoft365", "keep_spf": []},
        "ttl": {"cutover": 60, "final": 3600},
        "dmarc": {"policy": "quarantine", "rua": "mailto:dmarc@example.com"},
        "domains": {
            z: {
                "to": {
                    "mx_host": f"{z.replace('.', '-')}.mail.protection.outlook.com",
                    "dkim_selector1_target": f"selector1-{z.replace('.', '-')}._domainkey.contoso.onmicrosoft.com",
                    "dkim_selector2_target": f"selector2-{z.replace('.', '-')}._domainkey.contoso.onmicrosoft.com",
                    "verification": f"MS=ms{sum(map(ord, z)):08d}",
                }
            }
            for z in zones
        },
        "validation": {"nameservers": "none", "timeout": 10},
        "lint": {"resolvers": [standins_address()]},
    }
    for key, value in overrides.items():
        data[key] = value
    return data


def write_env(project: Path, data: dict[str, Any], name: str = "cf") -> None:
    (project / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    # page_cap=2: every read of the apex (four records) goes through several pages
    with CloudflareEmulator(token=TOKEN, page_cap=2) as emu:
        for zone in ZONES:
            seed(emu, zone)
        yield emu


@pytest.fixture
def cf_env(emulator: CloudflareEmulator) -> dict[str, str]:
    """The only way the token and the endpoint reach the program: environment variables."""
    return {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_BASE_URL": emulator.base_url}


def view(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple]]:
    """What a resolver would get, plus `proxied`: (name, type) -> sorted (content, prio, ttl, proxied)."""
    out: dict[tuple[str, str], list[tuple]] = {}
    for r in records:
        out.setdefault((r["name"], r["type"]), []).append(
            (r["content"], r.get("priority"), r["ttl"], r["proxied"])
        )
    return {k: sorted(v) for k, v in out.items()}


def ids(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    return {(r["name"], r["type"], r["content"]): r["id"] for r in records}
