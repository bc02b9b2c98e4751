"""Where profiles live: the user's `templates/` first, then the ones shipped with the tool.

A user's infrastructure repo can add or override a profile by dropping a file into its own
`templates/` folder; the built-in ones ship inside the wheel (or sit beside the package in a
source checkout).
"""

from __future__ import annotations

from pathlib import Path

SUFFIX = ".yaml.j2"
PACKAGE_DIR = Path(__file__).resolve().parent


def search_path(root: Path) -> list[Path]:
    """Template folders, highest priority first."""
    dirs = [Path(root) / "templates", PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.append(d.resolve())
    return seen


def _names(folder: Path) -> dict[str, Path]:
    return {
        p.name[: -len(SUFFIX)]: p
        for p in sorted(folder.glob("*" + SUFFIX))
        if not p.name.startswith("_")
    }


def available_profiles(root: Path, kind: str = "") -> dict[str, Path]:
    """Profile name -> template file; `kind` "senders" lists the sender overlays."""
    found: dict[str, Path] = {}
    for folder in reversed(search_path(root)):
        found.update(_names(folder / kind if kind else folder))
    return dict(sorted(found.items()))
