"""What each line of a BIND zone file says, with the byte offsets of every field.

dnspython reads a zone into records and forgets the text; editing a file in place needs the
opposite: for each record, where its owner, TTL, class, type and data sit in the file, which file
and line it came from (`$INCLUDE`, `$GENERATE`), and the parser state that gave it its name and
TTL ($ORIGIN, $TTL, owner inherited by a line that starts with whitespace). This module is that
map. It follows dnspython's rules (dns/zonefile.py), so the records it finds are the ones
dnspython loads; `$INCLUDE` paths are taken relative to the main zone file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl
import dns.zone


class ZoneSyntaxError(dns.exception.SyntaxError):
    """The file cannot be mapped; the message names the file and line."""


@dataclass(frozen=True)
class Token:
    text: str  # as written, quotes included
    start: int
    end: int
    quoted: bool = False

    @property
    def value(self) -> str:
        return self.text[1:-1] if self.quoted else self.text


@dataclass(frozen=True)
class Entry:
    """One logical line (parentheses join physical lines): its span and its tokens."""

    start: int
    end: int  # just after the newline that ends it (or the end of the text)
    line: int  # 1-based number of its first physical line
    tokens: tuple[Token, ...]
    leading_ws: bool


def entries(text: str, filename: str = "<zone>") -> list[Entry]:
    """Split zone-file text into logical lines; comments and quoted `;` are handled."""
    out = []
    i, n, line = 0, len(text), 1
    while i < n:
        start, first_line, depth, tokens = i, line, 0, []
        leading = text[i] in " \t"
        while i < n:
            c = text[i]
            if c == "\n":
                line += 1
                i += 1
                if depth == 0:
                    break
            elif c in " \t\r":
                i += 1
            elif c == ";":
                j = text.find("\n", i)
                i = n if j < 0 else j
            elif c == "(":
                depth += 1
                i += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise ZoneSyntaxError(f"{filename}:{line}: ')' without '('")
                i += 1
            elif c == '"':
                j = i + 1
                while j < n and text[j] != '"':
                    if text[j] == "\n":
                        raise ZoneSyntaxError(f"{filename}:{line}: unterminated quoted string")
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    raise ZoneSyntaxError(f"{filename}:{line}: unterminated quoted string")
                tokens.append(Token(text[i : j + 1], i, j + 1, True))
                i = j + 1
            else:
                j = i
                while j < n and text[j] not in ' \t\r\n;()"':
                    j += 2 if text[j] == "\\" else 1
                j = min(j, n)
                tokens.append(Token(text[i:j], i, j))
                i = j
        if depth:
            raise ZoneSyntaxError(f"{filename}:{first_line}: '(' is never closed")
        out.append(Entry(start, i, first_line, tuple(tokens), leading))
    return out


@dataclass
class Record:
    """One record line (or one record a `$GENERATE` line makes)."""

    file: Path
    line: int
    name: str  # absolute, lower case
    type: str
    ttl: int
    origin: dns.name.Name  # $ORIGIN in effect on this line
    default_ttl: int | None  # $TTL in effect (None: none, or only the SOA minimum)
    entry: Entry | None = None  # None for `$GENERATE` records
    in_main: bool = True
    owner: Token | None = None  # None: inherited from the line above
    owner_from: int | None = None  # index of the record whose line named the owner
    ttl_token: Token | None = None
    class_token: Token | None = None
    type_token: Token | None = None
    rdata: tuple[Token, ...] = ()
    generated_value: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.type)

    @property
    def editable(self) -> bool:
        return self.in_main and self.entry is not None

    def rdata_text(self) -> str:
        return " ".join(t.text for t in self.rdata)

    def value(self) -> str:
        """The data in dnspython's presentation form, names absolute."""
        if self.generated_value is not None:
            return self.generated_value
        rd = dns.rdata.from_text(
            dns.rdataclass.IN,
            dns.rdatatype.from_text(self.type),
            self.rdata_text(),
            origin=self.origin,
            relativize=False,
        )
        return rd.to_text()

    def where(self) -> str:
        how = " ($GENERATE)" if self.entry is None else ""
        return f"{self.file}:{self.line}{how}"


@dataclass
class _State:
    origin: dns.name.Name
    last_name: dns.name.Name
    owner_from: int | None = None
    last_ttl: int | None = None
    default_ttl: int | None = None
    default_from_soa: bool = False

    def implicit_ttl(self) -> int | None:
        if self.last_ttl is not None and (self.default_ttl is None or self.default_from_soa):
            return self.last_ttl
        return self.default_ttl

    def explicit_default(self) -> int | None:
        return None if self.default_from_soa else self.default_ttl


@dataclass
class ZoneMap:
    """Every record of a zone file, and what an editor needs to know about the main file."""

    path: Path
    origin: dns.name.Name
    text: str
    entries: list[Entry]
    records: list[Record] = field(default_factory=list)
    has_ttl_directive: bool = False
    end_origin: dns.name.Name | None = None
    end_default_ttl: int | None = None

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"


def _is_ttl(tok: Token) -> bool:
    if tok.quoted:
        return False
    try:
        dns.ttl.from_text(tok.text)
    except (dns.exception.DNSException, ValueError):
        return False
    return True


def _is_class(tok: Token) -> bool:
    if tok.quoted:
        return False
    try:
        dns.rdataclass.from_text(tok.text)
    except (dns.exception.DNSException, ValueError):
        return False
    return True


def include_path(tok: Token, folder: Path) -> Path:
    p = Path(tok.value)
    return p if p.is_absolute() else folder / p


def scan(path: Path, origin: str | dns.name.Name, text: str | None = None) -> ZoneMap:
    """Map the zone file at `path` (or `text`, read from it) and the files it includes."""
    zone_origin = dns.name.from_text(origin) if isinstance(origin, str) else origin
    if text is None:
        text = path.read_bytes().decode("utf-8")
    zmap = ZoneMap(path, zone_origin, text, entries(text, str(path)))
    state = _State(zone_origin, zone_origin)
    _walk(zmap, path, text, zmap.entries, state, main=True, depth=0)
    zmap.end_origin = state.origin
    zmap.end_default_ttl = state.explicit_default()
    return zmap


def _walk(zmap: ZoneMap, path: Path, text: str, ents: list[Entry], st: _State, main, depth):
    for e in ents:
        if not e.tokens:
            continue
        where = f"{path}:{e.line}"
        try:
            first = e.tokens[0]
            if not e.leading_ws and first.text.startswith("$") and not first.quoted:
                _directive(zmap, path, text, e, st, main, depth)
            else:
                _record(zmap, path, e, st, main)
        except ZoneSyntaxError:
            raise
        except (dns.exception.DNSException, ValueError, IndexError) as exc:
            raise ZoneSyntaxError(f"{where}: {exc or 'syntax error'}") from exc


def _directive(zmap: ZoneMap, path: Path, text: str, e: Entry, st: _State, main, depth):
    name = e.tokens[0].text.upper()
    args = e.tokens[1:]
    if name == "$ORIGIN":
        st.origin = dns.name.from_text(args[0].value, st.origin)
    elif name == "$TTL":
        st.default_ttl = dns.ttl.from_text(args[0].value)
        st.default_from_soa = False
        zmap.has_ttl_directive |= main
    elif name == "$INCLUDE":
        _include(zmap, path, e, st, depth)
    elif name == "$GENERATE":
        _generate(zmap, path, text[e.start : e.end].rstrip("\r\n"), e, st, main)


def _include(zmap: ZoneMap, path: Path, e: Entry, st: _State, depth: int):
    if depth > 8:
        raise ZoneSyntaxError(f"{path}:{e.line}: $INCLUDE nested too deep")
    args = e.tokens[1:]
    target = include_path(args[0], zmap.path.parent)
    if depth > 0 and not Path(args[0].value).is_absolute():
        raise ZoneSyntaxError(
            f"{path}:{e.line}: a nested $INCLUDE needs an absolute path ({args[0].value})"
        )
    try:
        text = target.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneSyntaxError(f"{path}:{e.line}: $INCLUDE {target}: {exc}") from exc
    inner = replace(st)
    if len(args) > 1:
        inner.origin = dns.name.from_text(args[1].value, st.origin)
    _walk(zmap, target, text, entries(text, str(target)), inner, main=False, depth=depth + 1)


def _generate(zmap: ZoneMap, path: Path, line: str, e: Entry, st: _State, main: bool):
    """Expand one `$GENERATE` line with dnspython to learn which records it makes."""
    ttl = st.implicit_ttl()
    mini = f"$ORIGIN {st.origin}\n$TTL {ttl if ttl is not None else 0}\n{line}\n"
    z = dns.zone.from_text(mini, origin=zmap.origin, relativize=False, check_origin=False)
    for name, rds in z.iterate_rdatasets():
        for rd in rds:
            zmap.records.append(
                Record(
                    path,
                    e.line,
                    name.to_text().lower(),
                    dns.rdatatype.to_text(rds.rdtype),
                    rds.ttl,
                    st.origin,
                    st.explicit_default(),
                    in_main=main,
                    generated_value=rd.to_text(),
                )
            )


def _record(zmap: ZoneMap, path: Path, e: Entry, st: _State, main: bool):
    toks = list(e.tokens)
    owner = None
    if not e.leading_ws:
        owner = toks.pop(0)
        st.last_name = dns.name.from_text(owner.text, st.origin)
        inside = st.last_name.is_subdomain(zmap.origin)
        st.owner_from = len(zmap.records) if inside else None
    if not st.last_name.is_subdomain(zmap.origin):
        return  # dnspython skips names outside the zone, TTL included
    ttl_tok = cls_tok = None
    if toks and _is_ttl(toks[0]):
        ttl_tok = toks.pop(0)
    if toks and _is_class(toks[0]):
        cls_tok = toks.pop(0)
    if ttl_tok is None and toks and _is_ttl(toks[0]):
        ttl_tok = toks.pop(0)
    if not toks:
        raise ZoneSyntaxError(f"{path}:{e.line}: record without a type")
    type_tok = toks.pop(0)
    rtype = dns.rdatatype.to_text(dns.rdatatype.from_text(type_tok.text))
    ttl = dns.ttl.from_text(ttl_tok.text) if ttl_tok else None
    if ttl is not None:
        st.last_ttl = ttl
    if rtype == "SOA" and st.default_ttl is None:
        st.default_ttl = int(dns.ttl.from_text(toks[-1].value))
        st.default_from_soa = True
    if ttl is None:
        ttl = st.implicit_ttl()
        if ttl is None:
            raise ZoneSyntaxError(f"{path}:{e.line}: no TTL and no $TTL before it")
    zmap.records.append(
        Record(
            path,
            e.line,
            st.last_name.to_text().lower(),
            rtype,
            ttl,
            st.origin,
            st.explicit_default(),
            entry=e,
            in_main=main,
            owner=owner,
            owner_from=st.owner_from,
            ttl_token=ttl_tok,
            class_token=cls_tok,
            type_token=type_tok,
            rdata=tuple(toks),
        )
    )
