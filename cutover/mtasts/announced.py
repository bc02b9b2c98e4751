"""Does the `_mta-sts` id the zone announces belong to the policy file that is published?

Senders fetch the policy again only when the id changes (RFC 8461 §3.1). A file edited by hand
without a new id, or an id bumped for a file that never reached the publish target, leaves
senders with a policy nobody meant. The stages make the id the hash of the file (policy.py
`policy_id`), so once a stage has published a policy the two can be compared; the domain's
original policy carries the domain's own id (any string), which only its owner can judge.

Read-only and cheap: the publish target is read (a file, or one S3 GET), never the web server;
`status` compares with what the provider holds, `validate` with what each authoritative server
serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CutoverError
from ..records import fqdn, txt_join
from . import policy as pol

#: the lint-style code `validate` reports a mismatch under (verify/findings.py CODES)
DRIFT = "MTA_STS_ID_DRIFT"


def txt_id(values: Iterable[str]) -> str | None:
    """The `id=` of the one `v=STSv1` record among TXT values (RFC 8461 §3.1); None without one
    (or with several: senders then ignore MTA-STS)."""
    records = [txt_join(v) for v in values]
    records = [r for r in records if r.startswith("v=STSv1")]
    if len(records) != 1:
        return None
    for part in records[0].split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == "id":
            return value.strip()
    return None


@dataclass
class Published:
    """One managed domain's published policy file, as `status` and `validate` compare it."""

    domain: str
    location: str
    text: str | None = None
    policy: pol.Policy | None = None
    error: str | None = None
    #: the file is the domain's original policy (before `prepare`): its id is the owner's own
    original: bool = False

    @property
    def id(self) -> str | None:
        return pol.policy_id(self.text) if self.text is not None else None

    def matches(self, served_id: str | None) -> bool | None:
        """True/False: the served id is/is not this file's; None: not ours to judge (the
        original policy under the domain's own id)."""
        if self.error:
            return False
        if self.text is not None and served_id == self.id:
            return True
        if self.original and self.text is not None:
            return None
        return False

    def why(self, served_id: str | None) -> str:
        """One line: how the id and the file disagree."""
        if self.error:
            return f"the published policy {self.location} cannot be used: {self.error}"
        if self.text is None:
            return f"id={served_id} is announced but no policy file is published at {self.location}"
        if served_id is None:
            return f"no v=STSv1 id is served, but {self.location} holds a policy (id {self.id})"
        return (
            f"serves id={served_id}, but the policy published at {self.location} has id "
            f"{self.id}: senders keep the policy they cached under id={served_id}"
        )

    def to_dict(self) -> dict[str, Any]:
        p = self.policy
        return {
            "location": self.location,
            "published": self.text is not None,
            "mode": p.mode if p else None,
            "mx": list(p.mx) if p else [],
            "max_age": p.max_age if p else None,
            "id": self.id,
            "original": self.original,
            "error": self.error,
        }


def published(env: Any, domains: list[str]) -> list[Published]:
    """The published file of each domain the `mta_sts` section manages (among `domains`)."""
    from .lifecycle import originals as prepare_originals
    from .publish import publisher

    if env.mta_sts is None:
        return []
    names = [d for d in domains if env.mta_sts.manages(d)]
    if not names:
        return []
    pub = publisher(env)
    originals = prepare_originals(env)
    out = []
    for domain in names:
        item = Published(domain, pub.location(domain))
        try:
            item.text = pub.read(domain)
        except CutoverError as exc:
            item.error = f"cannot read it: {exc}"
            out.append(item)
            continue
        if item.text is not None:
            try:
                item.policy = pol.parse(item.text)
            except pol.PolicyError as exc:
                item.error = f"not a valid policy: {exc}"
        # no prepare in place: the file is the domain's own; after prepare, its snapshot says
        item.original = domain not in originals or originals[domain] == item.text
        out.append(item)
    return out


@dataclass
class Served:
    """The `_mta-sts` ids one zone's authoritative servers serve (server -> id or None)."""

    zone: str
    ids: dict[str, str | None] = field(default_factory=dict)


def ask_servers(targets: dict[str, list[tuple[str, str]]]) -> dict[str, Served]:
    """Ask every (server, address) of each zone for `_mta-sts.<zone>` TXT, concurrently, once.
    A server that does not answer is left out: `validate` already reports it."""
    from ..verify import dnsquery
    from ..verify.propagation import QUERY_TIMEOUT, RETRIES

    async def one(zone: str, server: str, address: str) -> tuple[str, str, Any]:
        answer = await dnsquery.ask(
            address, fqdn("_mta-sts", zone), "TXT", timeout=QUERY_TIMEOUT, retries=RETRIES
        )
        return zone, server, answer

    async def all_of() -> list[tuple[str, str, Any]]:
        jobs = [one(z, s, a) for z, pairs in targets.items() for s, a in pairs]
        return list(await asyncio.gather(*jobs))

    out = {zone: Served(zone) for zone in targets}
    for zone, server, answer in asyncio.run(all_of()):
        if answer.problem is not None:
            continue
        values = answer.rrset.values if answer.rrset is not None else ()
        out[zone].ids[server] = txt_id(values)
    return out


def check_ids(env: Any, report: Any) -> None:
    """`validate`: for each managed domain, the id every authoritative server that answered
    `validate` serves must be the published file's; a mismatch is an error finding (exit 1)
    in `report.policy`, so the text, JSON and JUnit renderings carry it like any lint finding.
    """
    from ..verify.findings import Finding

    files = published(env, [d.name for d in env.domains])
    if not files:
        return
    answerless = {"TIMEOUT", "UNREACHABLE", "REFUSED", "SERVFAIL", "NOT_AUTHORITATIVE"}
    targets: dict[str, list[tuple[str, str]]] = {}
    for f in report.findings:
        if f.role != "authoritative" or f.address is None or f.status in answerless:
            continue
        pairs = targets.setdefault(f.zone, [])
        if (f.server, f.address) not in pairs:
            pairs.append((f.server, f.address))
    wanted = {fqdn(item.domain): [] for item in files}
    served = ask_servers({z: targets.get(z, []) for z in wanted})
    for item in files:
        ids = served[fqdn(item.domain)].ids
        if not ids:
            report.notes.append(
                f"{item.domain}: no authoritative server answered; MTA-STS id not compared"
            )
            continue
        bad = {server: sid for server, sid in ids.items() if item.matches(sid) is False}
        if not bad:
            own = sorted({sid for sid in ids.values() if item.matches(sid) is None and sid})
            if own:
                report.notes.append(
                    f"{item.domain}: MTA-STS id {', '.join(own)} is the domain's own (its "
                    "original policy): compared once prepare publishes a policy"
                )
            continue
        first_server, first_id = next(iter(bad.items()))
        report.policy.append(
            Finding(
                code=DRIFT,
                severity="error",
                domain=item.domain,
                record="_mta-sts TXT",
                message=f"{item.why(first_id)} (@ {', '.join(sorted(bad))})",
                hint="publish the policy that id was made for, or re-run the stage in place "
                "so the file and the id agree again",
            )
        )
