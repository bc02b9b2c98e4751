"""Where snapshots, the journal and the lock live: local files (default) or an S3 bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Environment
    from .base import StateBackend


def get_state(env: Environment) -> StateBackend:
    if env.state.backend == "s3":
        from .s3 import S3State

        return S3State(env)
    from .local import LocalState

    return LocalState(env)
