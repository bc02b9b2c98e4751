"""The MTA-STS policy file (RFC 8461 §3.2) and its mx matching rules (§4.1).

Kept free of I/O so the stages, the gate and the audit read a policy the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31557600


class PolicyError(ValueError):
    """A policy file that is not a usable STSv1 policy (the message says why)."""


@dataclass(frozen=True)
class Policy:
    mode: str
    mx: tuple[str, ...]
    max_age: int
    #: keys other than version/mode/mx/max_age, kept in order (RFC 8461 allows extensions)
    extra: tuple[tuple[str, str], ...] = field(default=())

    def text(self) -> str:
        """The file as published: CRLF line ends, as RFC 8461 §3.2 writes them."""
        lines = ["version: STSv1", f"mode: {self.mode}"]
        lines += [f"mx: {m}" for m in self.mx]
        lines.append(f"max_age: {self.max_age}")
        lines += [f"{k}: {v}" for k, v in self.extra]
        return "\r\n".join(lines) + "\r\n"

    def lists(self, host: str) -> bool:
        return any(mx_matches(p, host) for p in self.mx)


def parse(text: str) -> Policy:
    """A policy from its file; PolicyError says what is wrong in one line."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    extra: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise PolicyError(f"line {line[:40]!r} is not `key: value`")
        key, value = (s.strip() for s in line.split(":", 1))
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        elif key in ("version", "mode", "max_age"):
            fields.setdefault(key, value)
        else:
            extra.append((key, value))
    if fields.get("version") != "STSv1":
        raise PolicyError("no `version: STSv1` line")
    mode = fields.get("mode")
    if mode not in MODES:
        raise PolicyError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    age = fields.get("max_age", "")
    if not age.isdigit() or int(age) > MAX_AGE_LIMIT:
        raise PolicyError(f"max_age {age!r} is not a number of seconds up to {MAX_AGE_LIMIT}")
    if not mx and mode != "none":
        raise PolicyError("no `mx:` line")
    return Policy(mode, tuple(mx), int(age), tuple(extra))


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: a literal pattern matches the host exactly (case-insensitive); `*.x.y`
    matches exactly one label in front of `x.y` (not `x.y` itself, not `a.b.x.y`)."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def policy_id(text: str) -> str:
    """The `_mta-sts` TXT id of a policy file: derived from its content, so a changed policy
    always gets a new id and the same policy always the same one (a re-run changes nothing)."""
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def txt_value(text: str) -> str:
    return f"v=STSv1; id={policy_id(text)}"


def coexistence(original: Policy, old_hosts: list[str], new_hosts: list[str]) -> Policy:
    """While both providers receive mail: `mode: testing` (no sender refuses either MX while
    MX moves or rolls back), the original patterns plus any old or new MX host they miss."""
    mx = list(original.mx)
    for host in [*old_hosts, *new_hosts]:
        if not any(mx_matches(p, host) for p in mx):
            mx.append(host.lower().rstrip("."))
    return Policy("testing", tuple(mx), original.max_age, original.extra)


def final(original: Policy, new_hosts: list[str]) -> Policy:
    """After the migration: the mode the domain had, the new provider's MX only."""
    mx = tuple(dict.fromkeys(h.lower().rstrip(".") for h in new_hosts))
    return Policy(original.mode, mx, original.max_age, original.extra)
