"""SPF as the audit sees it: the live record, the union `prepare` would publish, their lookup
counts (checkdmarc through the lint resolvers, as lint counts them) and the senders they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..plan import is_spf
from ..records import RRset
from ..render import looser_all, spf_record
from ..verify.policy import required_spf
from ..verify.spf import LOOKUP_LIMIT, _checkdmarc_spf, _costliest, _join

#: include targets of well-known third-party senders -> (name, the `senders:` overlay if any)
THIRD_PARTY: dict[str, tuple[str, str | None]] = {
    "sendgrid.net": ("SendGrid", "sendgrid"),
    "mailgun.org": ("Mailgun", "mailgun"),
    "eu.mailgun.org": ("Mailgun EU", "mailgun"),
    "amazonses.com": ("Amazon SES", "amazon-ses"),
    "servers.mcsv.net": ("Mailchimp", None),
    "spf.mandrillapp.com": ("Mandrill", None),
    "mail.zendesk.com": ("Zendesk", None),
    "_spf.salesforce.com": ("Salesforce", None),
    "spf.mailjet.com": ("Mailjet", None),
    "_spf.createsend.com": ("Campaign Monitor", None),
    "spf.mtasv.net": ("Postmark", None),
    "sparkpostmail.com": ("SparkPost", None),
    "mktomail.com": ("Marketo", None),
    "_spf.hubspotemail.net": ("HubSpot", None),
    "spf.brevo.com": ("Brevo", None),
    "spf.sendinblue.com": ("Sendinblue", None),
    "helpscoutemail.com": ("Help Scout", None),
    "_spf.intercom.io": ("Intercom", None),
    "mail.freshdesk.com": ("Freshdesk", None),
}


def third_party(mechanism: str) -> tuple[str, str | None] | None:
    """(sender name, overlay) when an `include:` names a known third-party sender."""
    low = mechanism.lower().lstrip("+-~?")
    if not low.startswith("include:"):
        return None
    target = low.split(":", 1)[1].rstrip(".")
    for domain, who in THIRD_PARTY.items():
        if target == domain or target.endswith("." + domain):
            return who
    return None


@dataclass
class SpfCount:
    lookups: int | None = None
    error: str = ""
    costliest: str = ""

    def to_dict(self) -> dict[str, Any]:
        left = None if self.lookups is None else LOOKUP_LIMIT - self.lookups
        return {"lookups": self.lookups, "left": left, "error": self.error or None,
                "costliest": self.costliest or None}  # fmt: skip


@dataclass
class SpfView:
    live: str | None
    live_count: SpfCount
    planned: str
    planned_count: SpfCount
    live_terms: list[str] = field(default_factory=list)
    planned_terms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "live_lookups": self.live_count.to_dict(),
            "planned": self.planned,
            "planned_lookups": self.planned_count.to_dict(),
            "budget": LOOKUP_LIMIT,
            "dropped_by_plan": dropped(self),
        }


def live_spf(txt: RRset | None) -> str | None:
    for v in txt.values if txt else ():
        text = _join(v)
        if is_spf(text):
            return text
    return None


def planned_spf(env, dr) -> str:
    """The one SPF value `prepare` publishes: the coexistence union (render.wants' rule)."""
    return spf_record(required_spf(env, dr, "prepare"), looser_all(dr.old.spf_all, dr.new.spf_all))


def terms(text: str | None) -> list[str]:
    """Mechanisms and modifiers, without `v=spf1` and `all`."""
    if not text:
        return []
    return [t for t in text.split()[1:] if t.lower().lstrip("+-~?") != "all"]


def dropped(view: SpfView) -> list[str]:
    """Live mechanisms the planned union leaves out: mail they authorise would fail SPF."""
    planned = {t.lower().lstrip("+") for t in view.planned_terms}
    return [t for t in view.live_terms if t.lower().lstrip("+") not in planned]


def count(text: str | None, domain: str, lookup) -> SpfCount:
    """DNS lookups the record costs (RFC 7208 §4.6.4 limit 10), counted as lint counts them."""
    if not text:
        return SpfCount()
    spf = _checkdmarc_spf()
    kw: dict[str, Any] = {"nameservers": lookup.nameservers or None, "timeout": 2.0}
    try:
        parsed = spf.parse_spf_record(text, domain, ignore_too_many_lookups=True, **kw)
    except spf.SPFError as exc:
        return SpfCount(error=str(exc))
    n = int(parsed.get("dns_lookups", 0))
    out = SpfCount(lookups=n, error=str(parsed.get("error") or ""))
    if n > LOOKUP_LIMIT:
        out.costliest = _costliest(text, domain, kw)
    return out


def spf_view(env, dr, txt: RRset | None, lookup) -> SpfView:
    live = live_spf(txt)
    planned = planned_spf(env, dr)
    domain = dr.domain.name
    return SpfView(
        live=live,
        live_count=count(live, domain, lookup),
        planned=planned,
        planned_count=count(planned, domain, lookup),
        live_terms=terms(live),
        planned_terms=terms(planned),
    )
