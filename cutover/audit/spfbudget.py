"""SPF as the audit sees it: every live record, the union `prepare` would publish, their lookup
and void counts (the one evaluator, `cutover.spfeval`, through the lint resolvers, as lint counts
them) and the senders they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import spfeval
from ..records import RRset
from ..render import looser_all, spf_record
from ..verify.policy import required_spf

LOOKUP_LIMIT = spfeval.LOOKUP_LIMIT

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
class SpfView:
    live: str | None  # the live record (the first, when there are several)
    live_records: list[str]  # every v=spf1 record at the apex (two or more: permerror)
    live_eval: spfeval.Evaluation
    planned: str
    planned_eval: spfeval.Evaluation
    live_terms: list[str] = field(default_factory=list)  # of every live record
    planned_terms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "live_records": self.live_records,
            "live_lookups": self.live_eval.to_dict(),
            "planned": self.planned,
            "planned_lookups": self.planned_eval.to_dict(),
            "budget": LOOKUP_LIMIT,
            "dropped_by_plan": dropped(self),
        }


def live_records(txt: RRset | None) -> list[str]:
    return spfeval.spf_records(txt.values if txt else ())


def planned_spf(env, dr) -> str:
    """The one SPF value `prepare` publishes: the coexistence union (render.wants' rule)."""
    return spf_record(required_spf(env, dr, "prepare"), looser_all(dr.old.spf_all, dr.new.spf_all))


def terms(text: str | None) -> list[str]:
    """Mechanisms and modifiers, without `v=spf1` and `all`."""
    return spfeval.mechanisms([text]) if text else []


def dropped(view: SpfView) -> list[str]:
    """Live mechanisms (of any live record) the planned union leaves out: mail they authorise
    would fail SPF."""
    planned = {t.lower().lstrip("+") for t in view.planned_terms}
    return [t for t in view.live_terms if t.lower().lstrip("+") not in planned]


def spf_view(env, dr, txt: RRset | None, lookup) -> SpfView:
    records = live_records(txt)
    live = records[0] if records else None
    planned = planned_spf(env, dr)
    domain = dr.domain.name
    live_eval = spfeval.evaluate(live, domain, lookup.values)
    if len(records) > 1:
        live_eval.problems.insert(0, spfeval.Problem(
            "SPF_MULTIPLE", f"{len(records)} v=spf1 records at the apex (permerror, RFC 7208 §4.5)"
        ))  # fmt: skip
    return SpfView(
        live=live,
        live_records=records,
        live_eval=live_eval,
        planned=planned,
        planned_eval=spfeval.evaluate(planned, domain, lookup.values),
        live_terms=spfeval.mechanisms(records),
        planned_terms=terms(planned),
    )
