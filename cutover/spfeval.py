"""The one SPF evaluator (RFC 7208) behind both `lint` and `audit`.

It walks a record the way a receiver evaluates it for a sender that matches no mechanism (the
worst case: every term up to `all` is evaluated), and counts what §4.6.4 limits:

- DNS-querying terms (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`) through nested includes
  and redirects, limit 10; terms after `all` are never evaluated and a `redirect=` beside an
  `all` is ignored (§5.1, §6.1);
- void lookups (a term's query answered NXDOMAIN or with no records), limit 2;
- more than 10 MX records behind an `mx` mechanism (permerror, §4.6.4).

Macros that need no connection are expanded (§7.3): `%{d}` is the domain being evaluated (it
changes inside an include) and `%{o}` the sender's domain, taken as the domain itself (the
company's own mail). A term that needs `%{i}`, `%{s}`, `%{l}`, `%{h}`, `%{p}`, `%{v}`, `%{c}`,
`%{r}` or `%{t}` counts its lookup and is noted as not expandable; it is not followed.

Two SPF records at one name are a permerror (§4.5), and so is an include or redirect target with
none (§5.2, §6.1). `a` is looked up as A (what an IPv4 sender's check asks).

The evaluator is pure: it never opens a socket. It asks its questions through a `lookup`
callable, `lookup(name, rtype) -> list[str] | None` (presentation values, TXT either quoted or
already joined; `[]` for NXDOMAIN or no data; None when the lookup failed), so the lint's
run-wide cache (answers asked ahead, concurrently) can feed it.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_LIMIT = 10
#: stop following includes after this many counted lookups (a runaway or looping policy)
HARD_STOP = 100
MAX_DEPTH = 20

LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
EXPANDABLE = "do"  # macro letters known without a connection

Lookup = Callable[[str, str], "list[str] | None"]
Query = tuple[str, str]

_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z0-9]+)(.*)$", re.IGNORECASE)
_MACRO = re.compile(r"%(?:\{([a-z])([0-9]*)(r?)([.\-+,/_=]*)\}|(.))", re.IGNORECASE)
_TOPLABEL = re.compile(
    r"(?:^|\.)(?:[0-9a-z]*[a-z][0-9a-z]*|[0-9a-z]+-[0-9a-z\-]*[0-9a-z])\.?$", re.IGNORECASE
)


class SpfSyntaxError(ValueError):
    pass


def is_spf(text: str) -> bool:
    """RFC 7208 §4.5: the joined text is exactly `v=spf1` or starts with `v=spf1 `."""
    low = text.lower()
    return low == "v=spf1" or low.startswith("v=spf1 ")


def joined(value: str) -> str:
    """A TXT value as receivers read it: quoted presentation strings joined without spaces."""
    if not value.startswith('"'):
        return value
    from .records import txt_join

    return txt_join(value)


def spf_records(values: Iterable[str] | None) -> list[str]:
    """The SPF records among the TXT values of one name (usually one; two is a permerror)."""
    return [t for t in (joined(v) for v in values or ()) if is_spf(t)]


# ---------------------------------------------------------------- results


@dataclass
class Term:
    """One evaluated term, with what it costs and, for include/redirect, what it led to."""

    text: str
    kind: str  # mechanism or modifier name, lower case
    target: str | None = None  # the expanded domain it queries
    own: int = 0  # lookups the term itself costs (0 or 1)
    void: bool = False
    record: str | None = None  # include/redirect: the target's SPF record
    children: list[Term] = field(default_factory=list)
    note: str = ""

    @property
    def cost(self) -> int:
        return self.own + sum(c.cost for c in self.children)

    def label(self) -> str:
        written = self.text.lstrip("+-~?")
        shown = written
        if self.target and self.target.lower() not in written.lower():
            shown = f"{written} [{self.target}]"
        return shown

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.text,
            "target": self.target,
            "lookups": self.cost,
            "void": self.void,
            "note": self.note or None,
            "terms": [c.to_dict() for c in self.children] if self.children else None,
        }


@dataclass
class Problem:
    code: str  # a lint code: SPF_TOO_MANY_LOOKUPS, SPF_LOOP, ...
    message: str
    verdict: str = "permerror"  # or "temperror"


@dataclass
class Evaluation:
    domain: str
    record: str | None
    terms: list[Term] = field(default_factory=list)
    lookups: int = 0
    voids: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)  # include/redirect behind a sender macro

    @property
    def verdict(self) -> str:
        """`permerror`, `temperror`, `none` (no record) or `ok` (counts within the limits)."""
        if self.record is None and not self.problems:
            return "none"
        if any(p.verdict == "permerror" for p in self.problems):
            return "permerror"
        if self.problems:
            return "temperror"
        return "ok"

    @property
    def error(self) -> str:
        return "; ".join(p.message for p in self.problems)

    def costliest(self) -> str:
        """The include/redirect chain that spends the most lookups: `include:a (4) > include:b (1)`."""
        steps = []
        terms = self.terms
        while terms:
            top = max(terms, key=lambda t: t.cost)
            if top.cost == 0 or top.kind not in ("include", "redirect"):
                break
            steps.append(f"{top.label()} ({top.cost})")
            terms = top.children
        return " > ".join(steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "left": LOOKUP_LIMIT - self.lookups,
            "voids": self.voids,
            "verdict": self.verdict,
            "error": self.error or None,
            "costliest": self.costliest() or None,
            "notes": list(self.notes),
            "uncounted": list(self.uncounted),
        }


# ---------------------------------------------------------------- macros (RFC 7208 §7)


def expand(spec: str, domain: str, sender_domain: str) -> tuple[str | None, list[str]]:
    """(expanded domain, macro letters that need a connection). The domain is None when such a
    letter occurs: the name cannot be known before a message arrives."""
    missing: list[str] = []
    out: list[str] = []
    pos = 0
    for m in _MACRO.finditer(spec):
        out.append(spec[pos : m.start()])
        pos = m.end()
        letter, digits, reverse, delims, single = m.groups()
        if single is not None:
            if single == "%":
                out.append("%")
            elif single == "_":
                out.append(" ")
            elif single == "-":
                out.append("%20")
            else:
                raise SpfSyntaxError(f"invalid macro %{single} in {spec!r}")
            continue
        low = letter.lower()
        if low not in "slodiphcrtv":
            raise SpfSyntaxError(f"unknown macro letter %{{{letter}}} in {spec!r}")
        if low not in EXPANDABLE:
            missing.append(low)
            continue
        value = domain if low == "d" else sender_domain
        parts = re.split("[" + re.escape(delims or ".") + "]", value.rstrip("."))
        if reverse:
            parts.reverse()
        if digits:
            n = int(digits)
            if n == 0:
                raise SpfSyntaxError(f"macro transformer 0 in {spec!r}")
            parts = parts[-n:]
        text = ".".join(parts)
        if letter.isupper():
            text = urllib.parse.quote(text, safe="~")
        out.append(text)
    rest = spec[pos:]
    if "%" in rest:
        raise SpfSyntaxError(f"invalid macro in {spec!r}")
    out.append(rest)
    if missing:
        return None, missing
    name = "".join(out).rstrip(".")
    while len(name) > 253 and "." in name:  # §7.3: truncate on the left
        name = name.split(".", 1)[1]
    return name, []


def _check_domain_spec(spec: str) -> None:
    if not spec:
        raise SpfSyntaxError("empty domain-spec")
    tail = spec.rstrip(".")
    if tail.endswith("}") and "%{" in tail:
        return  # domain-end may be a macro-expand
    if not _TOPLABEL.search(spec) or "." not in tail:
        raise SpfSyntaxError(f"{spec!r} is not a domain name (RFC 7208 §7.1 domain-end)")


# ---------------------------------------------------------------- parsing


@dataclass
class _Parsed:
    mechanisms: list[tuple[str, str, str, str]]  # (text, qualifier, name, argument)
    redirect: str | None
    has_all: bool


def _cidr_ok(text: str, v4: bool, v6: bool) -> bool:
    m = re.fullmatch(r"(?:/(\d+))?(?://(\d+))?", text)
    if not m:
        return False
    a, b = m.groups()
    return (a is None or (v4 and int(a) <= 32 and a == str(int(a)))) and (
        b is None or (v6 and int(b) <= 128 and b == str(int(b)))
    )


def parse(record: str) -> _Parsed:
    """The terms of one record (§4.6.1, §12); SpfSyntaxError for what is not SPF syntax."""
    tokens = [t for t in record.split(" ") if t]
    if not tokens or tokens[0].lower() != "v=spf1":
        raise SpfSyntaxError("the record does not start with v=spf1")
    mechanisms = []
    modifiers: dict[str, str] = {}
    for token in tokens[1:]:
        mod = _MODIFIER.match(token)
        if mod and not re.match(r"^[+\-~?]", token):
            name, value = mod.group(1).lower(), mod.group(2)
            if name in ("redirect", "exp") and name in modifiers:
                raise SpfSyntaxError(f"{name}= appears more than once")
            modifiers[name] = value
            if name in ("redirect", "exp"):
                _check_domain_spec(value)
            elif "%" in value:  # §6: an unknown modifier is ignored, but its macros must parse
                expand(value, "x.invalid", "x.invalid")
            continue
        m = _MECHANISM.match(token)
        if not m:
            raise SpfSyntaxError(f"unknown term {token!r}")
        qualifier, name, rest = m.group(1), m.group(2).lower(), m.group(3)
        if name not in MECHANISMS:
            raise SpfSyntaxError(f"unknown mechanism {token!r}")
        arg = ""
        if name == "all":
            if rest:
                raise SpfSyntaxError(f"{token!r}: all takes no argument")
        elif name in ("ip4", "ip6"):
            if not rest.startswith(":"):
                raise SpfSyntaxError(f"{token!r}: {name} needs an address")
            addr, _, prefix = rest[1:].partition("/")
            try:
                ip = ipaddress.ip_address(addr)
                if ip.version != (4 if name == "ip4" else 6):
                    raise ValueError
                if "/" in rest and not (
                    prefix.isdigit()
                    and prefix == str(int(prefix))
                    and int(prefix) <= (32 if name == "ip4" else 128)
                ):
                    raise ValueError
            except ValueError as exc:
                raise SpfSyntaxError(f"{token!r}: not a valid {name} network") from exc
            arg = rest[1:]
        else:
            spec, cidr = rest, ""
            if name in ("a", "mx"):
                cut = re.search(r"(/\d+)?(//\d+)?$", rest)
                if cut and cut.group(0):
                    spec, cidr = rest[: cut.start()], cut.group(0)
                    if not _cidr_ok(cidr, True, True):
                        raise SpfSyntaxError(f"{token!r}: bad CIDR length")
            if spec:
                if not spec.startswith(":"):
                    raise SpfSyntaxError(f"unknown mechanism {token!r}")
                spec = spec[1:]
                _check_domain_spec(spec)
            elif name in ("include", "exists"):
                raise SpfSyntaxError(f"{token!r}: {name} needs a domain")
            arg = spec
        mechanisms.append((token, qualifier, name, arg))
    has_all = any(n == "all" for _, _, n, _ in mechanisms)
    return _Parsed(mechanisms, modifiers.get("redirect"), has_all)


# ---------------------------------------------------------------- the walk


@dataclass
class _State:
    sender_domain: str
    lookups: int = 0
    voids: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)

    def problem(self, code: str, message: str, verdict: str = "permerror") -> None:
        if not any(p.code == code and p.message == message for p in self.problems):
            self.problems.append(Problem(code, message, verdict))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


_Walk = Generator[Query, "list[str] | None", Any]


def _select(values: list[str] | None, name: str, via: str, st: _State) -> str | None:
    """The one SPF record at an include/redirect target, or None after noting why not."""
    if values is None:
        st.problem("SPF_ERROR", f"{via}: the TXT lookup of {name} failed (temperror)", "temperror")
        return None
    records = spf_records(values)
    if not values:
        st.voids += 1
    if len(records) > 1:
        st.problem("SPF_MULTIPLE", f"{via}: {name} has {len(records)} v=spf1 records (permerror)")
        return None
    if not records:
        st.problem("SPF_INCLUDE_NOT_FOUND", f"{via}: {name} has no SPF record (permerror)")
        return None
    return records[0]


def _walk(record: str, domain: str, path: tuple[str, ...], st: _State) -> _Walk:
    """Evaluate one record at `domain`; returns its terms. Yields (name, type) questions."""
    try:
        parsed = parse(record)
    except SpfSyntaxError as exc:
        where = "" if not path[:-1] else f" (at {domain}, via {' > '.join(path[1:])})"
        st.problem("SPF_SYNTAX", f"{exc}{where}")
        return []
    terms: list[Term] = []
    for text, _qualifier, name, arg in parsed.mechanisms:
        if name == "all":
            break  # §5.1: terms after `all` are never evaluated
        term = Term(text, name)
        terms.append(term)
        if name not in LOOKUP_TERMS:
            continue
        term.own = 1
        st.lookups += 1
        if name == "ptr":
            term.note = "depends on the sender's address"
            continue
        try:
            target, missing = expand(arg or "%{d}", domain, st.sender_domain)
        except SpfSyntaxError as exc:
            st.problem("SPF_SYNTAX", str(exc))
            continue
        if target is None:
            term.note = f"not expandable without a message: %{{{'}, %{'.join(missing)}}}"
            st.note(f"{text}: {term.note}; its lookup is counted, its target not followed")
            if name == "include":
                st.uncounted.append(text)
            continue
        term.target = target
        if st.lookups > HARD_STOP:
            continue
        if name == "include":
            yield from _follow(term, target, path, st)
        elif name in ("a", "exists"):
            got = yield (target, "A")
            if got is None:
                st.problem("SPF_ERROR", f"{text}: the A lookup of {target} failed", "temperror")
            elif not got:
                term.void = True
                st.voids += 1
        elif name == "mx":
            got = yield (target, "MX")
            if got is None:
                st.problem("SPF_ERROR", f"{text}: the MX lookup of {target} failed", "temperror")
            elif not got:
                term.void = True
                st.voids += 1
            elif len(got) > MX_LIMIT:
                st.problem("SPF_ERROR", f"{text}: {target} has {len(got)} MX records "
                           f"(more than {MX_LIMIT}: permerror, RFC 7208 §4.6.4)")  # fmt: skip
    if parsed.redirect is not None:
        if parsed.has_all:
            st.note(f"redirect={parsed.redirect} at {domain} is ignored: the record has `all` "
                    "(RFC 7208 §5.1)")  # fmt: skip
        else:
            term = Term(f"redirect={parsed.redirect}", "redirect", own=1)
            terms.append(term)
            st.lookups += 1
            try:
                target, missing = expand(parsed.redirect, domain, st.sender_domain)
            except SpfSyntaxError as exc:
                st.problem("SPF_SYNTAX", str(exc))
                return terms
            if target is None:
                term.note = f"not expandable without a message: %{{{'}, %{'.join(missing)}}}"
                st.note(f"{term.text}: {term.note}")
                st.uncounted.append(term.text)
            elif st.lookups <= HARD_STOP:
                term.target = target
                yield from _follow(term, target, path, st)
    return terms


def _follow(term: Term, target: str, path: tuple[str, ...], st: _State) -> _Walk:
    key = target.lower().rstrip(".")
    if key in path:
        st.problem("SPF_LOOP", f"{term.text}: {' > '.join((*path, key))} loops (permerror)")
        return
    if len(path) > MAX_DEPTH:
        st.problem("SPF_LOOP", f"{term.text}: includes nested deeper than {MAX_DEPTH}")
        return
    values = yield (target, "TXT")
    record = _select(values, target, term.text, st)
    if values == []:
        term.void = True
    if record is None:
        return
    term.record = record
    term.children = yield from _walk(record, target, (*path, key), st)


def _run(record: str | None, domain: str, sender_domain: str | None) -> _Walk:
    domain = domain.rstrip(".").lower()
    st = _State(sender_domain=(sender_domain or domain).rstrip(".").lower())
    ev = Evaluation(domain=domain, record=record)
    if record is not None:
        ev.terms = yield from _walk(record, domain, (domain,), st)
    ev.lookups, ev.voids, ev.notes = st.lookups, st.voids, st.notes
    ev.problems, ev.uncounted = st.problems, st.uncounted
    if st.lookups > LOOKUP_LIMIT:
        chain = ev.costliest() or "unknown"
        ev.problems.insert(0, Problem(
            "SPF_TOO_MANY_LOOKUPS",
            f"{st.lookups} DNS lookups (limit {LOOKUP_LIMIT}, permerror); costliest: {chain}",
        ))  # fmt: skip
    if st.voids > VOID_LIMIT:
        ev.problems.append(Problem(
            "SPF_TOO_MANY_VOID_LOOKUPS",
            f"{st.voids} void lookups (limit {VOID_LIMIT}, permerror): "
            + ", ".join(_voids(ev.terms)),
        ))  # fmt: skip
    return ev


def _voids(terms: list[Term]) -> list[str]:
    out = []
    for t in terms:
        if t.void:
            out.append(t.text)
        out += _voids(t.children)
    return out


def evaluate(
    record: str | None, domain: str, lookup: Lookup, *, sender_domain: str | None = None
) -> Evaluation:
    """Evaluate one SPF record published at `domain`, asking `lookup` (each question once)."""
    gen = _run(record, domain, sender_domain)
    memo: dict[Query, list[str] | None] = {}
    try:
        q = next(gen)
        while True:
            if q not in memo:
                memo[q] = lookup(*q)
            q = gen.send(memo[q])
    except StopIteration as done:
        return done.value


def mechanisms(records: Iterable[str]) -> list[str]:
    """The terms of SPF records other than `v=spf1` and `all`, in order, without duplicates
    (what a plan must keep from every live record)."""
    out: list[str] = []
    for text in records:
        for t in text.split()[1:]:
            if t.lower().lstrip("+-~?") == "all" or t in out:
                continue
            out.append(t)
    return out
