"""Loading a zone file with dnspython, `$INCLUDE` paths taken relative to the zone file's folder.

dnspython opens an `$INCLUDE`d file relative to the process's working directory; the tool runs
from the user's repository root (and the server from anywhere), so the main file's relative
`$INCLUDE` paths are made absolute before dnspython reads the text. A nested `$INCLUDE` must
already be absolute (zonesyntax refuses a relative one), so both readers open the same files.
"""

from __future__ import annotations

from pathlib import Path

import dns.name
import dns.zone

from .zonesyntax import entries, include_path, scan


def absolute_includes(text: str, path: Path) -> str:
    """`text` with each relative `$INCLUDE` path of the main file replaced by an absolute one."""
    out, pos = [], 0
    for e in entries(text, str(path)):
        toks = e.tokens
        if e.leading_ws or len(toks) < 2 or toks[0].text.upper() != "$INCLUDE":
            continue
        target = include_path(toks[1], path.parent.resolve())
        quoted = '"' + str(target).replace("\\", "\\\\").replace('"', '\\"') + '"'
        out += [text[pos : toks[1].start], quoted]
        pos = toks[1].end
    out.append(text[pos:])
    return "".join(out)


def read_text(path: Path) -> str:
    """The file's text, byte for byte (no newline translation); UnicodeDecodeError if not UTF-8."""
    return path.read_bytes().decode("utf-8")


def load_zone(path: Path, origin: str | dns.name.Name, text: str | None = None) -> dns.zone.Zone:
    """The zone in `path` (or `text` as if it were that file), names absolute."""
    if text is None:
        text = read_text(path)
    if "$INCLUDE" in text.upper():
        scan(path, origin, text)  # refuses nested relative includes, names a missing file
    return dns.zone.from_text(
        absolute_includes(text, path),
        origin=origin,
        relativize=False,
        filename=str(path),
        allow_include=True,
    )
