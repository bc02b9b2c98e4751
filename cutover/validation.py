"""`invoke validate`: does live DNS hold what the repository says for a stage?

Kept apart from the stages on purpose: it changes nothing, takes no lock, and CI runs it against
production at any time.
"""

from __future__ import annotations

from collections.abc import Callable

from . import journal
from .config import Environment
from .errors import UsageError
from .providers import get_provider
from .render import STAGES
from .state import get_state
from .verify.propagation import Report, check, expected_for_stage


def validation_stage(env: Environment, stage: str | None) -> str:
    """The stage to compare against: the given one, else the last one in place, else prepare."""
    if stage:
        if stage not in STAGES:
            raise UsageError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
        return stage
    units = journal.stack(get_state(env).read_journal())
    return journal.current_stage(units) or journal.next_stage(units)


def validate(
    env: Environment,
    stage: str | None,
    *,
    wait: bool = False,
    progress: Callable[[Report, bool], None] | None = None,
) -> Report:
    stage = validation_stage(env, stage)
    expected = expected_for_stage(env, stage)
    provider = get_provider(env)
    try:
        return check(env, provider, expected, stage, wait=wait, progress=progress)
    finally:
        provider.close()
