"""Editing a zone file in place: only the lines of the RRsets a plan changes, and the SOA serial.

Every other byte stays as it was: comments, directives, blank lines, order, spacing. A value that
stays keeps its line (only its TTL field is rewritten when the TTL changes); a value that goes
hands its line to the new value most like it (same position, same layout, trailing comment kept),
so that writing the `before` RRset back restores the line as it was; values with no line left to
take are written after the last line of their owner, in the layout of the line above (or, for
an RRset a run deleted, its old lines where they were: zonefile_source); lines of
values that go are deleted, and a line that inherited its owner from a deleted one gets it
written out. Records that come from an `$INCLUDE`d file or a `$GENERATE` line are refused: the
tool edits only the zone file itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import dns.name

from ..errors import CutoverError, ProviderError
from ..records import RRset, normalize_value, value_key
from ..zonesyntax import Record, Token, ZoneMap
from .zonefile_source import place

HOST_FIELD = {"MX": 1, "SRV": 3, "CNAME": 0, "NS": 0, "PTR": 0, "DNAME": 0}


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def foreign_keys(changes: Iterable[tuple[str, str]], zmap: ZoneMap) -> list[tuple[str, str]]:
    """The keys an edit touches: the changed ones and the SOA (its serial is raised)."""
    return [*changes, (zmap.origin.to_text().lower(), "SOA")]


def refuse_foreign(
    zmap: ZoneMap, keys: Iterable[tuple[str, str]], error: type[CutoverError] = ProviderError
) -> None:
    """`error` naming the file and line when a key's records are not in the zone file: a
    ConfigError (exit 2) when the plan is checked, a ProviderError when the file changed between
    the plan and the write."""
    keys = set(keys)
    for r in zmap.records:
        if r.key in keys and not r.editable:
            source = "a $GENERATE line" if r.entry is None else "an $INCLUDEd file"
            raise error(
                f"{r.name} {r.type} comes from {source} ({r.where()}) and the zone-file "
                f"provider edits only {zmap.path}: move those records into it or leave the "
                "name unmanaged",
                "move the records or leave the name unmanaged",
                nothing_written=True,
            )


def edit_zone(
    zmap: ZoneMap,
    changes: list[tuple[tuple[str, str], RRset | None]],
    sources: dict[tuple[str, str], dict] | None = None,
) -> tuple[str, int]:
    """The new text of the file with `changes` (key -> RRset after, None: deleted) and the serial
    bumped; and the new serial. `sources`: the text a deleted RRset had (zonefile_source), put
    back where it was when an RRset with no line left is written again."""
    refuse_foreign(zmap, foreign_keys((k for k, _ in changes), zmap))
    ed = _Editor(zmap, sources or {})
    for key, after in changes:
        ed.change(key, after)
    return ed.finish()


class _Editor:
    def __init__(self, zmap: ZoneMap, sources: dict[tuple[str, str], dict]) -> None:
        self.z = zmap
        self.sources = sources
        self.text = zmap.text
        self.records = zmap.records
        self.edits: list[Edit] = []
        self.deleted: set[int] = set()
        self.inserts: list[tuple[tuple[str, str], int, list[str]]] = []
        main = [r for r in self.records if r.editable and r.type != "SOA"]
        self.implicit_style = zmap.has_ttl_directive and any(r.ttl_token is None for r in main)
        self.relative_targets = any(_relative_target(r) for r in main)

    # ------------------------------------------------------------------ planning the edits

    def change(self, key: tuple[str, str], after: RRset | None) -> None:
        rtype = key[1]
        mine = [(i, r) for i, r in enumerate(self.records) if r.key == key]
        if after is None:
            self.deleted.update(i for i, _ in mine)
            return
        if not mine and key in self.sources:
            pos = place(self.z, self.sources[key], after)
            if pos is not None:  # back in its old place, as it was written
                self.edits.append(Edit(pos, pos, self.sources[key]["text"]))
                return
        want = {value_key(rtype, v): v for v in after.values}
        kept, removed = set(), []
        for i, r in mine:
            k = value_key(rtype, normalize_value(rtype, r.value()))
            if k in want:
                kept.add(k)
                self.edits += self._ttl(r, after.ttl)
            else:
                removed.append((i, r))
        added = [want[k] for k in _insert_order(rtype, want) if k not in kept]
        for i, r in removed:
            if not added:
                self.deleted.add(i)
                continue
            mine_key = value_key(rtype, normalize_value(rtype, r.value()))
            best = max(
                added, key=lambda v: len(os.path.commonprefix([mine_key, value_key(rtype, v)]))
            )
            added.remove(best)
            first, last = r.rdata[0], r.rdata[-1]
            self.edits.append(Edit(first.start, last.end, self._rdata(rtype, best, r.origin)))
            self.edits += self._ttl(r, after.ttl)
        if added:
            self.inserts.append((key, after.ttl, added))

    def _ttl(self, r: Record, ttl: int) -> list[Edit]:
        """Edits that give record `r` the TTL `ttl`, in the file's TTL style."""
        if r.ttl == ttl:
            return []
        tok = r.ttl_token
        if tok is not None:
            nxt = _next_token(r, tok)
            gap = self.text[tok.end : nxt.start]
            if self.implicit_style and ttl == r.default_ttl and gap.strip(" \t") == "":
                return [Edit(tok.start, nxt.start, "")]  # the line says the $TTL default again
            return [Edit(tok.start, tok.end, str(ttl))]
        first = r.entry.tokens[0 if r.owner is None else 1]
        return [Edit(first.start, first.start, f"{ttl}{self._ws_after(first)}")]

    def _rdata(self, rtype: str, value: str, origin: dns.name.Name) -> str:
        field = HOST_FIELD.get(rtype)
        if field is None or not self.relative_targets:
            return value
        parts = value.split()
        name = dns.name.from_text(parts[field])
        if name.is_subdomain(origin):
            parts[field] = name.relativize(origin).to_text()
        return " ".join(parts)

    # ------------------------------------------------------------------ writing them

    def finish(self) -> tuple[str, int]:
        self._fix_owners()
        for i in self.deleted:
            e = self.records[i].entry
            self.edits.append(Edit(e.start, e.end, ""))
        self._insert()
        serial = self._bump_serial()
        return _apply(self.text, self.edits), serial

    def _fix_owners(self) -> None:
        """A line that inherited its owner from a deleted line now writes the owner out."""
        for i in sorted(self.deleted):
            gone = self.records[i]
            if gone.owner is None:
                continue
            heirs = [
                r
                for j, r in enumerate(self.records)
                if r.owner_from == i and j != i and j not in self.deleted and r.editable
            ]
            if not heirs:
                continue
            heir = heirs[0]
            owner = gone.owner.text if heir.origin == gone.origin else gone.name
            start, first = heir.entry.start, heir.entry.tokens[0].start
            ws = self.text[start:first]
            if ws.strip(" ") == "" and len(ws) > len(owner):
                text = owner + ws[len(owner) :]
            else:
                text = owner + (ws or " ")
            self.edits.append(Edit(start, first, text))

    def _survivors(self) -> list[Record]:
        return [r for i, r in enumerate(self.records) if r.editable and i not in self.deleted]

    def _insert(self) -> None:
        nl = self.z.newline
        blocks: dict[int, list[str]] = {}
        for key, ttl, values in self.inserts:
            alive = self._survivors()
            anchor = next((r for r in reversed(alive) if r.key == key), None) or next(
                (r for r in reversed(alive) if r.name == key[0]), None
            )
            style = anchor or (alive[-1] if alive else None)
            if anchor is not None:
                pos, origin, default = anchor.entry.end, anchor.origin, anchor.default_ttl
            else:
                pos, origin, default = len(self.text), self.z.end_origin, self.z.end_default_ttl
            write_ttl = not (self.implicit_style and ttl == default)
            name = dns.name.from_text(key[0])
            owner = None if anchor is not None and self._inherits(anchor) else _owner(name, origin)
            lines = [
                self._line(
                    style, owner, ttl if write_ttl else None, key[1], self._rdata(key[1], v, origin)
                )
                for v in values
            ]
            blocks.setdefault(pos, []).extend(lines)
        for pos, lines in blocks.items():
            lead = (
                nl if pos == len(self.text) and self.text and not self.text.endswith("\n") else ""
            )
            self.edits.append(Edit(pos, pos, lead + "".join(line + nl for line in lines)))

    def _inherits(self, anchor: Record) -> bool:
        """New lines after `anchor` leave the owner out when the file writes owners that way."""
        return any(r.owner is None for r in self._survivors() if r.name == anchor.name)

    def _line(self, style: Record | None, owner: str | None, ttl, rtype: str, rdata: str) -> str:
        """One record line in the layout of `style` (owner None: inherited, indented)."""
        if style is None:
            return f"{owner or ''} {'' if ttl is None else f'{ttl} '}IN {rtype} {rdata}"
        text, e = self.text, style.entry
        lead = text[e.start : e.tokens[0].start] if style.owner is None else ""
        if owner is None:
            out = lead or self._indent()
        else:
            ws = self._ws_after(style.owner) if style.owner is not None else lead
            width = len(style.owner.text) + len(ws) if style.owner is not None else len(ws)
            aligned = len(ws) > 1 and ws.strip(" ") == ""  # the file lines up its columns
            pad = " " * max(1, width - len(owner)) if aligned else ws
            out = owner + pad
        fields = [t for t in (style.ttl_token, style.class_token) if t is not None]
        fields.sort(key=lambda t: t.start)
        if ttl is not None and style.ttl_token is None:
            out += f"{ttl}{self._ws_after(fields[0] if fields else style.type_token)}"
        for t in fields:
            if t is style.ttl_token:
                if ttl is not None:
                    out += f"{ttl}{self._ws_after(t)}"
            else:
                out += t.text + self._ws_after(t)
        return out + rtype + self._ws_after(style.type_token) + rdata

    def _indent(self) -> str:
        for r in self._survivors():
            if r.owner is None:
                return self.text[r.entry.start : r.entry.tokens[0].start]
        return "\t"

    def _ws_after(self, tok: Token) -> str:
        j = tok.end
        while j < len(self.text) and self.text[j] in " \t":
            j += 1
        ws = self.text[tok.end : j]
        return ws if ws and j < len(self.text) and self.text[j] not in "\r\n(;" else " "

    def _bump_serial(self) -> int:
        soa = next(r for r in self.records if r.key == (self.z.origin.to_text().lower(), "SOA"))
        tok = soa.rdata[2]
        if not tok.text.isdigit():
            raise ProviderError(f"{soa.where()}: the SOA serial {tok.text!r} is not a number")
        serial = (int(tok.text) + 1) % 2**32
        self.edits.append(Edit(tok.start, tok.end, str(serial)))
        return serial


def _next_token(r: Record, tok: Token) -> Token:
    toks = r.entry.tokens
    return toks[toks.index(tok) + 1]


def _owner(name: dns.name.Name, origin: dns.name.Name) -> str:
    if name.is_subdomain(origin):
        return name.relativize(origin).to_text()  # "@" for the origin itself
    return name.to_text()


def _relative_target(r: Record) -> bool:
    field = HOST_FIELD.get(r.type)
    if field is None or len(r.rdata) <= field:
        return False
    target = r.rdata[field].text
    return not target.endswith(".")


def _insert_order(rtype: str, want: dict[str, str]) -> list[str]:
    """Keys of new values in the order people write them (MX by preference, SRV by priority)."""

    def sort_key(k: str):
        parts = want[k].split()
        if rtype in ("MX", "SRV"):
            nums = tuple(int(p) for p in parts[:-1])
            return (nums, parts[-1])
        return ((), k)

    return sorted(want, key=sort_key)


def _apply(text: str, edits: list[Edit]) -> str:
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        if e.start < pos:
            raise ProviderError(
                f"zone file edit: overlapping edits at offset {e.start}",
                nothing_written=True,
            )
        out += [text[pos : e.start], e.text]
        pos = e.end
    out.append(text[pos:])
    return "".join(out)
