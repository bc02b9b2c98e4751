"""What a probe found: one value per recipient, address and MX host, and their JSON shape.

The findings are names a sysadmin can grep for (`REJECTS_RECIPIENT`), each with the reply that
caused it, so the report says what the server said, not only what we concluded.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

ACCEPTS = "ACCEPTS"
REJECTS_RECIPIENT = "REJECTS_RECIPIENT"
REJECTS_CLIENT = "REJECTS_CLIENT"
TEMPFAIL = "TEMPFAIL"
NO_STARTTLS = "NO_STARTTLS"
TLS_INVALID = "TLS_INVALID"
CONNECT_FAILED = "CONNECT_FAILED"

#: worst first: an address's (and a host's) finding is the worst of what it answered
SEVERITY = (REJECTS_CLIENT, TLS_INVALID, REJECTS_RECIPIENT, TEMPFAIL, NO_STARTTLS, ACCEPTS)

BLOCKED_HINT = (
    "outbound port 25 is often blocked on laptops, home lines and CI runners: run the probe "
    "from a host that can reach it (a server beside your mail relays)"
)

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 status code at the start of a reply text (`5.4.1`), if any."""
    m = _ENHANCED.match(text.strip())
    return ".".join(m.groups()) if m else None


def classify(step: str, code: int, text: str) -> str | None:
    """The finding of one reply, None when it lets the session go on.

    A 5xx before RCPT refuses the probing host (or its sender), not a recipient. At RCPT a
    5.7.x is the host's reputation (RFC 3463 "security or policy"), except a relay refusal,
    which is how many servers say they do not take mail for the domain.
    """
    if code < 400:
        return None
    if code < 500:
        return TEMPFAIL
    if step != "rcpt":
        return REJECTS_CLIENT
    policy = (enhanced_code(text) or "").startswith("5.7.")
    if policy and "relay" not in text.lower():
        return REJECTS_CLIENT
    return REJECTS_RECIPIENT


def worst(findings: list[str]) -> str:
    return min(findings, key=SEVERITY.index) if findings else ACCEPTS


@dataclass
class Recipient:
    recipient: str
    finding: str
    code: int
    reply: str


@dataclass
class Tls:
    offered: bool
    version: str | None = None
    verified: bool | None = None
    error: str | None = None


@dataclass
class Address:
    """One SMTP session with one address of an MX host."""

    address: str
    family: str  # ipv4 | ipv6
    port: int
    finding: str = CONNECT_FAILED
    #: the step the session stopped at, and the reply (or error) it got there
    step: str = "connect"
    detail: str = ""
    #: the probing host has no route for this address family: noted, never a failure
    family_unreachable: bool = False
    greeting: str | None = None
    tls: Tls | None = None
    recipients: list[Recipient] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.finding != CONNECT_FAILED


@dataclass
class Host:
    """One MX host of one domain: it passes when the addresses that answered all accept."""

    domain: str
    host: str
    preference: int
    via: str  # dns | probe.hosts
    recipients: list[str]
    addresses: list[Address] = field(default_factory=list)
    note: str | None = None

    @property
    def finding(self) -> str:
        answered = [a.finding for a in self.addresses if a.answered]
        return worst(answered) if answered else CONNECT_FAILED

    @property
    def ok(self) -> bool:
        return self.finding == ACCEPTS

    @property
    def accepts(self) -> bool:
        """Every address that answered took every probe recipient (what `require` asks; a host
        without STARTTLS still takes mail)."""
        answered = [a for a in self.addresses if a.answered]
        return bool(answered) and all(
            a.finding in (ACCEPTS, NO_STARTTLS)
            and [r.finding for r in a.recipients] == [ACCEPTS] * len(self.recipients)
            for a in answered
        )

    def line(self) -> str:
        """One line: the host, its finding and why."""
        bad = [a for a in self.addresses if a.finding == self.finding]
        why = bad[0].detail if bad else (self.note or "")
        if self.finding == CONNECT_FAILED and not self.note:
            why = f"{why}; {BLOCKED_HINT}" if why else BLOCKED_HINT
        return f"{self.domain}: MX {self.host}: {self.finding}" + (f" ({why})" if why else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "host": self.host,
            "preference": self.preference,
            "via": self.via,
            "finding": self.finding,
            "ok": self.ok,
            "accepts": self.accepts,
            "recipients": self.recipients,
            "note": self.note,
            "line": self.line(),
            "addresses": [asdict(a) for a in self.addresses],
        }


@dataclass
class ProbeReport:
    """Every MX host of every domain, probed: the `probe --json` document."""

    env: str
    stage: str
    source: str  # render: what the stage's profile renders | live: the MX served now
    hosts: list[Host] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def failures(self) -> list[Host]:
        return [h for h in self.hosts if not h.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def accepts(self) -> bool:
        """Every MX host takes every probe recipient: the `probe.require` gate of cutover."""
        return all(h.accepts for h in self.hosts)

    @property
    def exit_code(self) -> int:
        """As validate's: 1 a host refuses, 3 not one host answered (the network, not DNS)."""
        if self.ok:
            return 0
        return 3 if all(h.finding == CONNECT_FAILED for h in self.hosts) else 1

    def error_line(self) -> str:
        if self.exit_code == 0:
            return ""
        first = self.failures[0].line()
        if self.exit_code == 3:
            return f"probe: no MX host answered on port {self.port_text()}; first: {first}"
        return (
            f"probe: {len(self.failures)} of {len(self.hosts)} MX host(s) would not take the "
            f"probe recipients; first: {first}"
        )

    def port_text(self) -> str:
        return ", ".join(sorted({str(a.port) for h in self.hosts for a in h.addresses})) or "25"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.finding] = out.get(h.finding, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "mailcutover.probe/1",
            "env": self.env,
            "stage": self.stage,
            "source": self.source,
            "ok": self.ok,
            "accepts": self.accepts,
            "exit_code": self.exit_code,
            "summary": {
                "hosts": len(self.hosts),
                "passing": len(self.hosts) - len(self.failures),
                "findings": self.counts(),
                "elapsed_s": round(self.elapsed, 3),
            },
            "notes": self.notes,
            "hosts": [h.to_dict() for h in self.hosts],
        }

    def journal_summary(self, require: bool) -> dict[str, Any]:
        """What the cutover's `began` event keeps: each host's finding and why, in one line."""
        return {
            "require": require,
            "ok": self.ok,
            "accepts": self.accepts,
            "hosts": [
                {"domain": h.domain, "host": h.host, "finding": h.finding, "line": h.line()}
                for h in self.hosts
            ],
        }
