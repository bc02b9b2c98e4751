"""The `probe:` section of the environment file: who the SMTP probe asks for, and whether the
cutover waits on its answer. Parsed here, beside the probe, so config.py stays one idea."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..addresses import parse_address
from ..records import fqdn

if TYPE_CHECKING:
    from ..config import _Checker

PROBE_KEYS = {
    "recipients", "sender", "port", "require", "timeout", "in_validate", "ca_file", "hosts",
}  # fmt: skip


@dataclass
class Probe:
    """The SMTP probe (cutover/probe/): who it asks for, and whether the cutover waits on it.

    `recipients` maps a domain to its probe addresses; a domain not in it gets `defaults`. An
    entry without `@` is a local part of the domain (postmaster by default: RFC 5321 requires
    every domain to accept it). `hosts` maps an MX host to loopback `host:port` addresses (or
    `embedded`, the demo's stand-in) in place of its A/AAAA: only the demo and tests use it."""

    recipients: dict[str, list[str]] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=lambda: ["postmaster"])
    sender: str = ""
    port: int = 25
    require: bool = False
    timeout: int = 10
    in_validate: bool = False
    ca_file: Path | None = None
    hosts: dict[str, list[str]] = field(default_factory=dict)

    def embedded_hosts(self) -> list[str]:
        """The MX hosts mapped to `embedded`: the demo's stand-in (probe, `serve`) answers them."""
        return sorted(h for h, to in self.hosts.items() if "embedded" in to)

    def recipients_for(self, domain: str) -> list[str]:
        entries = self.recipients.get(domain, self.defaults)
        return [e if "@" in e else f"{e}@{domain}" for e in entries]


def parse_probe(c: _Checker, data: dict, root: Path, domains: list[str]) -> Probe:
    """The `probe:` section; every error is one line naming the key."""
    raw = c.mapping(data.get("probe"), "probe", PROBE_KEYS)
    probe = Probe()
    given = raw.get("recipients")
    if isinstance(given, list):
        probe.defaults = _mailboxes(c, given, "probe.recipients")
    elif given is not None:
        for dname, entries in c.mapping(given, "probe.recipients").items():
            key = f"probe.recipients.{dname}"
            name = fqdn(str(dname)).rstrip(".")
            if name not in domains:
                raise c.fail(key, f"not a domain of this environment ({', '.join(domains)})")
            probe.recipients[name] = _mailboxes(c, entries, key)
    sender = raw.get("sender", "")
    if not isinstance(sender, str) or (sender and not _MAILBOX.fullmatch(sender)):
        raise c.fail("probe.sender", f"must be an address like probe@example.com or '', got {sender!r}")  # fmt: skip
    if not sender.isascii():
        raise c.fail("probe.sender", f"{sender!r}: {ASCII_ONLY}")
    probe.sender = sender
    probe.port = c.integer(raw.get("port", 25), "probe.port", 1, 65535)
    probe.timeout = c.integer(raw.get("timeout", 10), "probe.timeout", 1, 300)
    for flag in ("require", "in_validate"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise c.fail(f"probe.{flag}", f"must be true or false, got {value!r}")
        setattr(probe, flag, value)
    if raw.get("ca_file") is not None:
        ca = root / str(raw["ca_file"])
        if not ca.is_file():
            raise c.fail("probe.ca_file", f"no file {ca}")
        probe.ca_file = ca
    for host, given in c.mapping(raw.get("hosts"), "probe.hosts").items():
        key = f"probe.hosts.{host}"
        targets = given if isinstance(given, list) else [given]
        for target in targets:
            if target != "embedded" and not _loopback(str(target)):
                raise c.fail(key, f"must be `embedded` or loopback host:port addresses (tests and the demo only), got {target!r}")  # fmt: skip
        probe.hosts[fqdn(str(host)).rstrip(".").lower()] = [str(t) for t in targets]
    return probe


#: smtplib sends commands as ASCII (the probe does not speak SMTPUTF8): a non-ASCII address
#: would end the session in a UnicodeEncodeError, so it is refused where it is configured
ASCII_ONLY = "must be ASCII (the probe does not speak SMTPUTF8; write the domain as xn--...)"

_MAILBOX = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def _mailboxes(c: _Checker, value: Any, key: str) -> list[str]:
    entries = c.strings(value, key)
    if not entries:  # with require: true, an empty list would let the cutover pass unasked
        raise c.fail(key, "must name at least one address (or leave the key out: postmaster)")
    for i, entry in enumerate(entries):
        if not entry or ("@" in entry and not _MAILBOX.fullmatch(entry)) or " " in entry:
            raise c.fail(f"{key}[{i}]", f"{entry!r} is not an address or a local part")
        if not entry.isascii():
            raise c.fail(f"{key}[{i}]", f"{entry!r}: {ASCII_ONLY}")
    return entries


def _loopback(text: str) -> bool:
    import ipaddress

    try:
        host, _port = parse_address(text, default_port=0)
        return _port > 0 and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
