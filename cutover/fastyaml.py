"""YAML through libyaml where PyYAML has it: the rendered profile of every domain is parsed on
every run (2-3 documents a domain), and the C loader is about ten times faster. Same safe
subset, same errors (with their marks), pure-Python fallback where libyaml is missing."""

from __future__ import annotations

from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader (C or Python)
