"""Golden tests: every profile and sender, every stage, at a sample, a hyphenated and an IDN
domain, rendered through the real pipeline (config -> inputs -> template -> stage wants) and
compared with the checked-in files under tests/golden/. A changed template fails with a unified
diff; `UPDATE_GOLDEN=1` rewrites the files (read the diff before committing them)."""

from __future__ import annotations

import difflib
import os

import pytest

from tests.golden_cases import (
    DOMAINS,
    GOLDEN,
    PROFILES,
    SENDERS,
    golden_path,
    profile_golden,
    sender_golden,
)

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _compare(path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no expected file {path}; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(),
            actual.splitlines(),
            f"{path.relative_to(GOLDEN.parent)} (expected)",
            "rendered now",
            lineterm="",
        )
        pytest.fail("rendered records differ from the golden file:\n" + "\n".join(diff))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("profile", PROFILES)
def test_profile_golden(profile, domain):
    _compare(golden_path("profile", profile, domain), profile_golden(profile, domain))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("sender", SENDERS)
def test_sender_golden(sender, domain):
    _compare(golden_path("sender", sender, domain), sender_golden(sender, domain))


def test_every_shipped_template_has_golden_files():
    """A new template without golden cases would go untested: list them here first."""
    shipped = {
        p.name.removesuffix(".yaml.j2")
        for p in (GOLDEN.parent.parent / "templates").glob("*.yaml.j2")
    }
    senders = {
        p.name.removesuffix(".yaml.j2")
        for p in (GOLDEN.parent.parent / "templates" / "senders").glob("*.yaml.j2")
    }
    assert shipped == set(PROFILES)
    assert senders == set(SENDERS)
    on_disk = {p.parent.name for p in GOLDEN.glob("*/*/*.txt")}
    assert on_disk == set(PROFILES) | set(SENDERS)
