"""The lines of a zone-file RRset a run deletes, kept so a rollback can put them back as written.

Without them, rollback writes a deleted RRset back as new lines after its owner's last line (or
at the end of the file), in the layout of the line above: the data is right, the comment, the
parentheses and the TTL units are gone. The snapshot keeps the RRset's exact text, the record it
followed (by name, type and value, so that a TTL changed since does not lose it) and the comment
or blank lines between the two. Rollback reinserts the text there when that record is still in
the file and the RRset is the one the text says; anything else falls back to the plain insert.
"""

from __future__ import annotations

from typing import Any

from ..records import RRset, normalize_value
from ..zonesyntax import Record, ZoneMap


def capture(zmap: ZoneMap, keys: list[tuple[str, str]], rrsets: dict) -> list[dict[str, Any]]:
    """For each key whose records are consecutive lines of the zone file itself, its text and
    where it sat; keys spread over the file, included or generated, or first in it, are left
    out (rollback then inserts them the plain way)."""
    out = []
    for key in keys:
        mine = [r for r in zmap.records if r.key == key]
        if not mine or not all(r.editable for r in mine) or key not in rrsets:
            continue
        starts = [e.start for e in zmap.entries]
        spans = sorted({starts.index(r.entry.start) for r in mine})  # type: ignore[union-attr]
        if spans != list(range(spans[0], spans[-1] + 1)):
            continue
        first, last = zmap.entries[spans[0]], zmap.entries[spans[-1]]
        anchor = _record_before(zmap, first.start)
        if anchor is None or not zmap.text.endswith("\n", 0, last.end):
            continue
        out.append(
            {
                "key": list(key),
                "rrset": rrsets[key].to_dict(),
                "text": zmap.text[first.start : last.end],
                "after": [anchor.name, anchor.type, _value(anchor)],
                "gap": zmap.text[anchor.entry.end : first.start],  # type: ignore[union-attr]
            }
        )
    return out


def place(zmap: ZoneMap, item: dict[str, Any], after: RRset) -> int | None:
    """The offset where `item`'s text goes back, or None: the RRset being written is not the one
    the text holds, or the record it followed is gone."""
    try:
        if RRset.from_dict(item["rrset"]) != after:
            return None
        name, rtype, value = item["after"]
        if not isinstance(item["text"], str) or not isinstance(item["gap"], str):
            return None
    except (KeyError, TypeError, ValueError):  # not an item this module wrote: do without it
        return None
    for r in zmap.records:
        if r.editable and r.key == (name, rtype) and _value(r) == value:
            pos = r.entry.end  # type: ignore[union-attr]
            gap = item["gap"]
            return pos + len(gap) if zmap.text.startswith(gap, pos) else pos
    return None


def _record_before(zmap: ZoneMap, offset: int) -> Record | None:
    before = [r for r in zmap.records if r.editable and r.entry.end <= offset]  # type: ignore[union-attr]
    return max(before, key=lambda r: r.entry.end, default=None)  # type: ignore[union-attr]


def _value(r: Record) -> str:
    return normalize_value(r.type, r.value())
