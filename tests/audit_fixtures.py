"""A realistic zone for `invoke audit`: example.com on Google Workspace about to move to
Microsoft 365, with the things that go wrong in real migrations planted in it.

Planted: a SendGrid sender in SPF (include:sendgrid.net) that the environment does not declare,
an MTA-STS record, a DNSKEY at the apex, a leftover selector1 DKIM TXT where Microsoft 365 wants
a CNAME, a DMARC rua mailbox inside the domain, an MX TTL of 3600 s (so T_old = 3600) and an SOA
minimum of 300 (negative caching 300 s). `keep_spf` is long enough to blow the SPF budget.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.rfc2136_helpers import SECRET_ENV

ENV = "audit"
DKIM_KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAua1ij3CE7Ws2rO+CPHPKBycettWTMxExJ56NHfwTqHdgFG4g"
    "BXEL20wfLyvj0jrqdvhEsytSrVB1TJYtm1qZAZubPiB97ij8YzWsY7gMOkv0Uef8IKTy6VBkgfiq7FdTSD5IBVB+6rx"
)
DNSKEY = "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="

ZONE = f"""$ORIGIN example.com.
$TTL 300
@ 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026112401 3600 600 604800 300
@ 3600 IN NS ns1.example.com.
@ 3600 IN DNSKEY 257 3 13 {DNSKEY}
ns1 3600 IN A 127.0.0.1
@ 3600 IN MX 1 smtp.google.com.
@ 300 IN TXT "v=spf1 include:_spf.google.com include:sendgrid.net ~all"
@ 300 IN TXT "google-site-verification=audit-example-Xy12AbCdEfGh"
google._domainkey 300 IN TXT "v=DKIM1; k=rsa; p={DKIM_KEY}"
selector1._domainkey 300 IN TXT "v=DKIM1; k=rsa; p={DKIM_KEY}"
s1._domainkey 300 IN CNAME s1.domainkey.u1234.wl123.sendgrid.net.
s2._domainkey 300 IN CNAME s2.domainkey.u1234.wl123.sendgrid.net.
em1234 300 IN CNAME u1234.wl123.sendgrid.net.
_dmarc 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com"
_mta-sts 300 IN TXT "v=STSv1; id=20240115T000000"
mta-sts 300 IN A 192.0.2.80
_smtp._tls 300 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.com"
default._bimi 300 IN TXT "v=BIMI1; l=https://example.com/bimi/logo.svg"
www 300 IN A 192.0.2.10
"""

#: every record the audit must name: (name, type, ttl)
EXPECTED_RECORDS = [
    ("example.com.", "SOA", 3600),
    ("example.com.", "NS", 3600),
    ("example.com.", "DNSKEY", 3600),
    ("example.com.", "MX", 3600),
    ("example.com.", "TXT", 300),
    ("google._domainkey.example.com.", "TXT", 300),
    ("selector1._domainkey.example.com.", "TXT", 300),
    ("s1._domainkey.example.com.", "CNAME", 300),
    ("s2._domainkey.example.com.", "CNAME", 300),
    ("_dmarc.example.com.", "TXT", 300),
    ("_mta-sts.example.com.", "TXT", 300),
    ("mta-sts.example.com.", "A", 300),
    ("_smtp._tls.example.com.", "TXT", 300),
    ("default._bimi.example.com.", "TXT", 300),
]

#: SPF budget: google 4 + outlook 1 + mailgun 2 + fastmail 1 + zoho 1 + two a: = 11 > 10
KEEP_SPF = [
    "include:mailgun.org",
    "include:spf.messagingengine.com",
    "include:zohomail.eu",
    "a:smtp.google.com",
    "a:aspmx.l.google.com",
]


def server_zones(project: Path) -> dict[str, str]:
    """example.com (above) and the demo's example.org, for one Knot."""
    return {
        "example.com": ZONE,
        "example.org": (project / "demo" / "zones" / "example.org.zone").read_text(),
    }


def write_audit_env(project: Path, srv, resolver: str) -> Path:
    """environments/audit.yaml: the demo's migration on the rfc2136 provider at `srv`."""
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    data["provider"] = {
        "type": "rfc2136",
        "server": srv.address,
        "tsig": {"name": srv.key_name, "algorithm": "hmac-sha256", "secret_env": SECRET_ENV},
        "timeout": 5,
    }
    data["migration"]["keep_spf"] = KEEP_SPF
    data["lint"] = {"resolvers": [resolver]}
    data["validation"] = {"nameservers": "auto", "timeout": 20}
    path = project / "environments" / f"{ENV}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
