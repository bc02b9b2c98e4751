"""The golden cases: which profile, domain and inputs each expected file under tests/golden/
holds, and how rendered records are written down so that a changed template reads as a diff.

Values in the expected files were checked by hand against the vendors' documentation as listed
in ../shared/reference/email-dns.md §1 and §7.2 (the front matter of each template names them).
Regenerate after a deliberate template change with `UPDATE_GOLDEN=1 pytest tests/test_golden.py`
and read the diff before committing it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cutover.config import Environment, parse_environment
from cutover.records import fqdn
from cutover.views import render_doc

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"

# a sample domain, a hyphenated domain and an IDN domain (bücher.example, xn--bcher-kva.example)
DOMAINS = ("example.com", "my-company.com", "bücher.example")

KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAua1ij3CE7Ws2rO+CPHPKBycettWTMxExJ56NHfwTqHdgFG4g"
    "BXEL20wfLyvj0jrqdvhEsytSrVB1TJYtm1qZAZubPiB97ij8YzWsY7gMOkv0Uef8IKTy6VBkgfiq7FdTSD5IBVB+6rx/"
    "LCpO7kYHJlqLEhs3XWBpekIqLJjk5pwqGZnorRNV+b/7IWzwqaKi+3ZwRfVnp63i6bvftUU5ss61J2n3X7Ihqrf/paan"
    "Fv108RYf2lSd09jP1hgqNQdWWiMaMc54BbF7V8c4qLmg3f5LtdqwH2wrGrYdnbGPxLH3kBEgJYNMuKxlPi/4uDgNc4hy"
    "qu7g+o/bZSPAGva25QIDAQAB"
)
TOKENS = [
    "abcdefghijklmnopqrstuvwxyz012345",
    "bcdefghijklmnopqrstuvwxyz0123456",
    "cdefghijklmnopqrstuvwxyz01234567",
]

# The stand-in providers on the other side of each golden migration: a made-up old provider
# (custom) that the profile replaces, and a made-up new one that replaces the profile.
BASE_OLD = {
    "mx": ["10 mx1.old-mail.example.net", "20 mx2.old-mail.example.net"],
    "spf": ["include:spf.old-mail.example.net"],
    "verification": ["old-mail-verification=abc123"],
    "dkim": [
        {"selector": "oldmail", "type": "CNAME", "value": "oldmail.dkim.old-mail.example.net"}
    ],
}
BASE_NEW = {
    "mx": ["10 mx.new-mail.example.net"],
    "spf": ["include:spf.new-mail.example.net"],
    "spf_all": "-all",
    "dkim": [
        {"selector": "newmail", "type": "CNAME", "value": "newmail.dkim.new-mail.example.net"}
    ],
}


def ascii_name(domain: str) -> str:
    return fqdn(domain).rstrip(".")


def profile_inputs(profile: str, domain: str, variant: str = "") -> dict[str, Any]:
    """Realistic inputs for one profile at one domain; IDN domains in their ASCII form."""
    d = ascii_name(domain)
    dashed = d.replace(".", "-")
    if profile == "microsoft365":
        if domain == "example.com":  # no mx_host: the legacy derivation, allowed without a hyphen
            mx: dict[str, Any] = {}
            tenant = "contoso.onmicrosoft.com"
        elif domain == "my-company.com":  # hyphen: Microsoft's token cannot be derived
            mx = {"mx_host": "mycompany-com01c.mail.protection.outlook.com", "mdm": True}
            tenant = "contoso.onmicrosoft.com"
        else:  # the 2026 form, and the May 2025 DKIM target form
            mx = {"mx_host": f"{dashed}.r-v1.mx.microsoft"}
            tenant = "contoso.r-v1.dkim.mail.microsoft"
        return {
            **mx,
            "dkim_selector1_target": f"selector1-{dashed}._domainkey.{tenant}",
            "dkim_selector2_target": f"selector2-{dashed}._domainkey.{tenant}",
            "verification": "MS=ms12345678",
        }
    if profile == "google-workspace":
        return {
            "mx_style": "legacy" if domain == "my-company.com" else "smtp",
            "dkim_public_key": KEY,
            "google_site_verification": "rXOxyZounnZasA8Z7oaD3c14JdjS9aKSWvsR1EbUSIQ",
        }
    if profile == "zoho":
        region = {"example.com": "com", "my-company.com": "eu"}.get(domain, "com.au")
        return {
            "region": region,
            "spf_include": "zohomail.eu" if region == "eu" else "zohomail.com",
            "dkim_selector": "zmail",
            "dkim_public_key": KEY,
            "verification": f"zb14725836.zmverify.zoho.{region}",
        }
    if profile == "fastmail":
        return {}
    if profile == "proton":
        ident = "dw3ckr7u7hmxybpmkrhgoqssnyzbvayfnbmqn6dfaxvmb7ddstooa"
        return {
            "verification": "3c4f2a9d1e8b7c6a5f4e3d2c1b0a99887766554433",
            "dkim1_target": f"protonmail.domainkey.{ident}.domains.proton.ch",
            "dkim2_target": f"protonmail2.domainkey.{ident}.domains.proton.ch",
            "dkim3_target": f"protonmail3.domainkey.{ident}.domains.proton.ch",
        }
    if profile == "amazon-workmail":
        return {
            "region": "eu-west-1" if domain == "my-company.com" else "us-east-1",
            "dkim_tokens": TOKENS,
            "amazonses_verification": "pmBGN/7MjnfhTKUZ06Enqq1PeGUaOkw8lGhcfwefcHU=",
        }
    if profile == "custom":
        return {
            "mx": ["10 mail.example.net", "20 backup-mail.example.net"],
            "spf": ["ip4:192.0.2.0/24", "include:_spf.example.net"],
            "spf_all": "-all",
            "verification": ["example-net-verification=xyz789"],
            "dkim": [
                {"selector": "mail2026", "type": "TXT", "value": f"v=DKIM1; k=rsa; p={KEY}"},
                {"selector": "relay", "type": "CNAME", "value": "relay.dkim.example.net"},
            ],
        }
    if profile == "no-mail":
        return {}
    raise KeyError(profile)


def sender_inputs(sender: str, domain: str) -> dict[str, Any]:
    if sender == "sendgrid":
        return {"em_label": "em1234", "user_host": "u1234.wl123.sendgrid.net"}
    if sender == "mailgun":
        return {"dkim_selector": "krs", "dkim_public_key": KEY}
    if sender == "amazon-ses":
        return {"region": "eu-central-1", "dkim_tokens": TOKENS, "mail_from": "bounce"}
    raise KeyError(sender)


PROFILES = (
    "microsoft365",
    "google-workspace",
    "zoho",
    "fastmail",
    "proton",
    "amazon-workmail",
    "custom",
    "no-mail",
)
SENDERS = ("sendgrid", "mailgun", "amazon-ses")


def environment(
    domain: str,
    from_profile: str,
    from_inputs: dict,
    to_profile: str,
    to_inputs: dict,
    senders: dict[str, dict] | None = None,
) -> Environment:
    data = {
        "provider": {"type": "zonefile", "directory": "zones"},
        "migration": {"from": from_profile, "to": to_profile, "keep_spf": ["ip4:198.51.100.25"]},
        "ttl": {"cutover": 300, "final": 3600},
        "dmarc": {"policy": "quarantine", "rua": f"mailto:dmarc@{ascii_name(domain)}"},
        "domains": {
            domain: {"from": from_inputs, "to": to_inputs, "senders": senders or {}},
        },
    }
    return parse_environment("golden", REPO / "environments" / "golden.yaml", REPO, data)


def _value_order(value: str) -> tuple[int, str]:
    """MX values by preference, then text: the order a reader expects."""
    head, _, rest = value.partition(" ")
    return (int(head), rest) if head.isdigit() else (-1, value)


def stage_lines(env: Environment) -> list[str]:
    """Every stage's wanted RRsets, one line per RRset and one per value."""
    doc = render_doc(env, None)
    lines = []
    for stage, domains in doc["stages"].items():
        lines.append(f"[{stage}]")
        for rows in domains.values():
            for row in sorted(rows, key=lambda r: (r["name"] != "@", r["name"], r["type"])):
                head = f"  {row['name']} {row['type']} ttl={row['ttl']}"
                if row["values"] is None:
                    lines.append(f"{head} keep-served-values")
                    continue
                if not row["values"]:
                    lines.append(f"{head} delete")
                    continue
                lines.append(head + (" shared(other values kept)" if row["shared"] else ""))
                lines.extend(f"    {v}" for v in sorted(row["values"], key=_value_order))
    return lines


def profile_golden(profile: str, domain: str) -> str:
    """The expected-file text for one profile at one domain: as the new and as the old provider."""
    inputs = profile_inputs(profile, domain)
    as_new = environment(domain, "custom", BASE_OLD, profile, inputs)
    as_old = environment(domain, profile, inputs, "custom", BASE_NEW)
    out = [
        f"# {profile} at {domain} ({ascii_name(domain)})",
        f"# inputs: {json.dumps(inputs, sort_keys=True)}",
        "",
        f"## {profile} is the new provider (migration.from: custom, the made-up old-mail.example.net)",
        *stage_lines(as_new),
        "",
        f"## {profile} is the old provider (migration.to: custom, the made-up new-mail.example.net)",
        *stage_lines(as_old),
    ]
    return "\n".join(out) + "\n"


def sender_golden(sender: str, domain: str) -> str:
    inputs = sender_inputs(sender, domain)
    env = environment(domain, "custom", BASE_OLD, "custom", BASE_NEW, {sender: inputs})
    out = [
        f"# sender {sender} at {domain} ({ascii_name(domain)})",
        f"# inputs: {json.dumps(inputs, sort_keys=True)}",
        "",
        "## migration custom (old-mail.example.net) -> custom (new-mail.example.net)",
        *stage_lines(env),
    ]
    return "\n".join(out) + "\n"


def golden_path(kind: str, name: str, domain: str) -> Path:
    folder = GOLDEN / ("senders" if kind == "sender" else "profiles") / name
    return folder / f"{ascii_name(domain)}.txt"
