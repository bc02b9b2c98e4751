"""Which DKIM selectors to probe: DNS cannot list the names under `_domainkey`, so the audit asks
for a documented list of selectors that mail providers and senders are known to use, plus every
selector the environment's profiles and sender overlays render."""

from __future__ import annotations

from ..records import fqdn

#: selectors in common use, and who uses them (the README's Audit section repeats this list)
WELL_KNOWN: dict[str, str] = {
    "google": "Google Workspace",
    "selector1": "Microsoft 365",
    "selector2": "Microsoft 365",
    "s1": "SendGrid",
    "s2": "SendGrid",
    "k1": "Mailchimp / Mailgun",
    "k2": "Mailchimp",
    "k3": "Mailchimp",
    "mandrill": "Mandrill",
    "mx": "Mailgun",
    "pic": "Mailgun",
    "default": "generic",
    "dkim": "generic",
    "mail": "generic",
    "smtp": "generic",
    "fm1": "Fastmail",
    "fm2": "Fastmail",
    "fm3": "Fastmail",
    "protonmail": "Proton",
    "protonmail2": "Proton",
    "protonmail3": "Proton",
    "zmail": "Zoho",
    "zoho": "Zoho",
    "amazonses": "Amazon SES",
    "mxvault": "Mailjet",
    "mailjet": "Mailjet",
    "sig1": "iCloud",
    "cm": "Campaign Monitor",
    "everlytickey1": "Everlytic",
    "turbo-smtp": "turboSMTP",
}


def selector_of(name: str) -> str | None:
    """`google` for `google._domainkey.example.com.`; None for a name that is no selector."""
    label = "._domainkey."
    return name.split(label, 1)[0] if label in name else None


def profile_selectors(dr) -> dict[str, str]:
    """{selector: role} for every DKIM name the domain's profiles and senders render."""
    out: dict[str, str] = {}
    groups = [("old", dr.old), ("new", dr.new)] + [("sender", s) for s in dr.senders]
    for role, rendered in groups:
        for name, _rtype, _values in rendered.records:
            sel = selector_of(name)
            if sel is not None:
                out.setdefault(sel, role if role != "sender" else f"sender {rendered.profile}")
    return out


def selectors_to_probe(dr) -> list[str]:
    return sorted(set(WELL_KNOWN) | set(profile_selectors(dr)))


def selector_name(selector: str, zone: str) -> str:
    return fqdn(f"{selector}._domainkey", zone)
