"""Email policy lint on what a stage would publish.

This first version only holds the Finding shape the stages and reports use; the SPF, DMARC,
DKIM, MX and MTA-STS checks arrive with the lint issue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" blocks apply, "warning" does not unless --strict
    domain: str
    record: str
    message: str
    hint: str = ""

    def line(self) -> str:
        tail = f"; {self.hint}" if self.hint else ""
        return f"{self.severity} {self.code} {self.domain} {self.record}: {self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lint_plans(env, stage: str, plans) -> list[Finding]:
    return []
