"""Helpers for Route53 and S3 tests on moto: seed hosted zones from zone-file text, read a zone
back exactly, write a Route53 environment file. Fixtures are in tests/aws_fixtures.py."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import yaml

from tests.moto_server import MotoServer

#: The AWS secret key every test process uses; tests grep outputs and state for it.
SECRET = "mOtO/" + secrets.token_urlsafe(24)
BUCKET = "cutover-state"
PREFIX = "teams/mail"


def route53_value(rd) -> str:
    """A record value as Route53 documents it: TXT strings quoted, octal escapes (written here
    independently of the provider's own converter, so a test can catch it being wrong)."""
    if rd.rdtype != dns.rdatatype.TXT:
        return rd.to_text()
    parts = []
    for s in rd.strings:
        esc = "".join(
            "\\" + chr(b) if b in (34, 92) else chr(b) if 32 <= b < 127 else f"\\{b:03o}" for b in s
        )
        parts.append(f'"{esc}"')
    return " ".join(parts)


@dataclass
class Aws:
    server: MotoServer
    env: dict[str, str]
    r53: Any
    s3: Any

    def seed_zone(self, zone: str, text: str, caller: str | None = None) -> str:
        """A public hosted zone holding every RRset of a zone file but its SOA and NS."""
        zid = self.r53.create_hosted_zone(Name=zone, CallerReference=caller or zone)["HostedZone"][
            "Id"
        ].split("/")[-1]
        z = dns.zone.from_text(text, origin=zone + ".", relativize=False)
        changes = []
        for name, rds in z.iterate_rdatasets():
            if rds.rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
                continue
            changes.append(
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": name.to_text(),
                        "Type": dns.rdatatype.to_text(rds.rdtype),
                        "TTL": rds.ttl,
                        "ResourceRecords": [{"Value": route53_value(rd)} for rd in rds],
                    },
                }
            )
        for i in range(0, len(changes), 300):
            self.r53.change_resource_record_sets(
                HostedZoneId=zid, ChangeBatch={"Changes": changes[i : i + 300]}
            )
        return zid

    def dump(self, zid: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """Every record set of a zone but SOA/NS, values exactly as Route53 stores them."""
        out = {}
        for page in self.r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zid):
            for rs in page["ResourceRecordSets"]:
                if rs["Type"] in ("SOA", "NS"):
                    continue
                out[(rs["Name"], rs["Type"])] = (
                    rs["TTL"],
                    sorted(r["Value"] for r in rs["ResourceRecords"]),
                )
        return out

    def set_rrset(self, zid: str, name: str, rtype: str, ttl: int, values: list[str]) -> None:
        """Change a record behind the tool's back (what a colleague in the console does)."""
        self.r53.change_resource_record_sets(
            HostedZoneId=zid,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": rtype,
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": v} for v in values],
                        },
                    }
                ]
            },
        )

    def state_objects(self) -> dict[str, bytes]:
        out = {}
        resp = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
        for obj in resp.get("Contents", []):
            out[obj["Key"]] = self.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        return out


def demo_zone_text(project: Path, zone: str, ttl: int = 2) -> str:
    """The demo's example.com zone renamed to `zone`, old TTLs shortened, extra unmanaged data."""
    text = (project / "demo" / "zones" / "example.com.zone").read_text()
    text = text.replace("example.com", zone).replace(" 10 IN ", f" {ttl} IN ")
    text += f'long 300 IN TXT "{"x" * 255}" "tail\\"quoted\\" \\195\\169t\\195\\169"\n'
    text += "mail 300 IN A 192.0.2.25\n"
    lint = project / "lintzones"
    if lint.is_dir():  # what the lint resolver (aws_fixtures.standins) serves for the zone
        (lint / f"{zone}.zone").write_text(text)
        ms = lint / "onmicrosoft.com.zone"  # the DKIM keys Microsoft would publish for it
        dashed = zone.replace(".", "-")
        key = next(ln for ln in ms.read_text().splitlines() if "selector1-example-com" in ln)
        for sel in ("selector1", "selector2"):
            line = key.replace("selector1-example-com", f"{sel}-{dashed}")
            if line not in ms.read_text():
                ms.write_text(ms.read_text() + line + "\n")
        ol = lint / "outlook.com.zone"  # and the MX host it would hand out
        mx = next(ln for ln in ol.read_text().splitlines() if ln.startswith("example-com."))
        line = mx.replace("example-com", dashed, 1)
        if line not in ol.read_text():
            ol.write_text(ol.read_text() + line + "\n")
    return text


def write_route53_env(
    project: Path,
    zones: list[str],
    lint_resolver: str,
    *,
    name: str = "r53",
    state: dict | None = None,
    extra_domains: dict | None = None,
) -> str:
    domains = {}
    for zone in zones:
        dashed = zone.replace(".", "-")
        domains[zone] = {
            "to": {
                "mx_host": f"{dashed}.mail.protection.outlook.com",
                "dkim_selector1_target": f"selector1-{dashed}._domainkey.contoso.onmicrosoft.com",
                "dkim_selector2_target": f"selector2-{dashed}._domainkey.contoso.onmicrosoft.com",
                "verification": "MS=ms" + str(abs(hash(zone)) % 10**8).zfill(8),
            }
        }
        domains[zone].update((extra_domains or {}).get(zone, {}))
    env = {
        "provider": {"type": "route53"},
        "state": state or {"backend": "s3", "bucket": BUCKET, "prefix": PREFIX},
        "migration": {"from": "google-workspace", "to": "microsoft365", "keep_spf": []},
        "ttl": {"cutover": 1, "final": 60},
        "dmarc": {"policy": "quarantine", "rua": "mailto:dmarc@example.com"},
        "domains": domains,
        "validation": {"nameservers": "none", "timeout": 30},
        "lint": {"resolvers": [lint_resolver]},
    }
    (project / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    return name
