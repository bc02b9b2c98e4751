"""Where snapshots, the journal, the lock and the settings copy live: local files (default) or an
S3 bucket.

`get_state(env)` is the normal path (from a loaded environment file). `state_at(spec, name)`
needs no environment file at all, for a rollback from a fresh machine when the file cannot be
read: `spec` is the environment's state directory (the folder holding journal.jsonl) or
`s3://bucket/prefix` (the environment's name is appended, as the S3 backend always does).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import UsageError
from .base import PLAIN_ENV, StateTarget

if TYPE_CHECKING:
    from ..config import Environment
    from .base import StateBackend

__all__ = ["StateTarget", "get_state", "open_state", "parse_state_spec", "state_at"]


def get_state(env: Environment | StateTarget) -> StateBackend:
    """The backend an environment file configures (or the one a StateTarget names)."""
    target = StateTarget.of(env)
    if target.backend == "s3":
        from .s3 import S3State

        return S3State(env)
    from .local import LocalState

    return LocalState(env)


def open_state(target: StateTarget) -> StateBackend:
    return get_state(target)


def parse_state_spec(spec: str, env_name: str) -> StateTarget:
    """A StateTarget from `--state DIR` or `--state s3://bucket/prefix`; UsageError (exit 2)
    for a malformed spec, a plain name that is not one, or a directory that does not exist."""
    if not isinstance(env_name, str) or not PLAIN_ENV.fullmatch(env_name):
        raise UsageError(
            f"environment name {env_name!r} is not plain (letters, digits, '_', '.', '-')",
            "give the name of the environment file, without directory or .yaml",
        )
    label = f"--state {spec}"
    if spec.startswith("s3://") or spec.lower().startswith("s3:"):
        parts = urlsplit(spec)
        bucket = parts.netloc
        if parts.scheme != "s3" or not bucket or parts.query or parts.fragment:
            raise UsageError(
                f"{label}: not an S3 location", "write it as s3://bucket/prefix (no ?query)"
            )
        prefix = parts.path.strip("/")
        options = {"bucket": bucket, **({"prefix": prefix} if prefix else {})}
        return StateTarget(env_name, "s3", options, None, label)
    directory = Path(spec).expanduser().resolve()
    if not directory.is_dir():
        raise UsageError(
            f"{label}: no such directory",
            "give the environment's state directory, the folder that holds journal.jsonl",
        )
    nested = directory / env_name
    if not (directory / "journal.jsonl").exists() and (nested / "journal.jsonl").exists():
        raise UsageError(
            f"{label}: no journal.jsonl there, but {nested} has one",
            f"did you mean --state {nested}?",
        )
    return StateTarget(env_name, "local", {"directory": str(directory)}, directory, label)


def state_at(spec: str, env_name: str) -> StateBackend:
    """The state backend at `spec` (a state directory or s3://bucket/prefix) for `env_name`."""
    return open_state(parse_state_spec(spec, env_name))
