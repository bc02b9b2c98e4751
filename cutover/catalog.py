"""The catalogue behind `invoke profiles`: every mailbox profile and sender overlay a repository
can use (the user's `templates/` over the built-in ones), with the inputs each declares.

It answers the question a sysadmin has before writing an environment file: which values must I
fetch from the vendor's console, which have defaults, and what shape must they have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .inputs import ProfileSpec, read_spec
from .profiles import PACKAGE_DIR, available_profiles


def load_specs(root: Path) -> list[ProfileSpec]:
    """Mailbox profiles first, then sender overlays, each sorted by name."""
    specs = [read_spec(n, "profile", p) for n, p in available_profiles(root).items()]
    specs += [read_spec(n, "sender", p) for n, p in available_profiles(root, "senders").items()]
    return specs


def _origin(root: Path, path: Path) -> str:
    """`user` for a profile in the repository's own templates/, `built-in` otherwise."""
    user_dir = (Path(root) / "templates").resolve()
    builtin = {PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"}
    if path.resolve().is_relative_to(user_dir) and user_dir not in builtin:
        return "user"
    return "built-in"


def required_text(required: bool | str) -> str:
    """`required`, `optional`, or the condition under which an input is required."""
    if required is True:
        return "required"
    if required is False:
        return "optional"
    if required == "role == 'to'":
        return "required as target"
    return f"required when {required}"


def catalog_doc(root: Path, only: set[str] | None = None) -> dict[str, Any]:
    """One JSON-ready document: {"profiles": [...], "senders": [...]}; `only` keeps the named
    profiles and senders (those one environment uses)."""
    doc: dict[str, Any] = {"profiles": [], "senders": []}
    for spec in load_specs(root):
        if only is not None and spec.name not in only:
            continue
        doc["profiles" if spec.kind == "profile" else "senders"].append(
            {
                "name": spec.name,
                "title": spec.title,
                "origin": _origin(root, spec.path),
                "path": str(spec.path),
                "declared": spec.declared,
                "sources": list(spec.sources),
                "notes": spec.notes,
                "inputs": [i.to_dict() for i in spec.inputs.values()],
            }
        )
    return doc


def catalog_text(doc: dict[str, Any]) -> str:
    """Plain text for a terminal or a pipe: one block per profile, one line per input."""
    lines: list[str] = []
    for section, heading in (
        ("profiles", "Mail provider profiles"),
        ("senders", "Sender overlays"),
    ):
        where = "migration.from / migration.to" if section == "profiles" else "domains.<d>.senders"
        lines.append(f"{heading} ({where})")
        for p in doc[section]:
            origin = "" if p["origin"] == "built-in" else f"  [{p['origin']}: {p['path']}]"
            lines.append(f"  {p['name']}: {p['title'] or '(no description)'}{origin}")
            if not p["declared"]:
                lines.append("      inputs not declared (no front matter): any input accepted")
            elif not p["inputs"]:
                lines.append("      no inputs")
            for i in p["inputs"]:
                tags = [i["type"], required_text(i["required"])]
                if "default" in i:
                    tags.append(f"default {json.dumps(i['default'])}")
                if "count" in i:
                    tags.append(f"{i['count']} items")
                lines.append(f"    - {i['name']} ({', '.join(tags)}): {i['description']}")
                if "pattern" in i:
                    lines.append(f"        pattern: {i['pattern']}")
                for fname, pat in i.get("fields", {}).items():
                    lines.append(f"        field {fname}: {pat}")
            if p["notes"]:
                lines.append(f"      note: {p['notes']}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def used_by(env) -> set[str]:
    """The profiles and senders one environment uses: its migration and every domain's senders."""
    names = {env.migration.from_profile, env.migration.to_profile}
    for d in env.domains:
        names.update(d.senders)
    return names
