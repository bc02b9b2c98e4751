"""Where profiles live: the user's `templates/` first, then the ones shipped with the tool.

A user's infrastructure repo can add or override a profile by dropping a file into its own
`templates/` folder; the built-in ones ship inside the wheel (or sit beside the package in a
source checkout).
"""

from __future__ import annotations

from functools import lru_cache
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
    """Profile name -> template file; `kind` "senders" lists the sender overlays.

    Every render asks (three profiles a domain, 500 domains); the folders are listed again only
    when one of them changed (a profile added or removed changes its folder's mtime)."""
    folders = [folder / kind if kind else folder for folder in reversed(search_path(root))]
    stamps = tuple((f, f.stat().st_mtime_ns if f.is_dir() else None) for f in folders)
    return dict(_listing(stamps))


@lru_cache(maxsize=64)
def _listing(stamps: tuple[tuple[Path, int | None], ...]) -> tuple[tuple[str, Path], ...]:
    found: dict[str, Path] = {}
    for folder, _ in stamps:
        found.update(_names(folder))
    return tuple(sorted(found.items()))
