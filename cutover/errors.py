"""Errors that map onto the command-line exit codes of DESIGN.md.

Every error carries one line that tells the user what is wrong and what to do next; tasks.py
prints it and exits with the code, so no traceback reaches a sysadmin on cutover night.
"""

from __future__ import annotations


class CutoverError(Exception):
    """Base class: `exit_code` is what the command exits with."""

    exit_code = 1
    #: True only when the failing provider call certainly wrote nothing (a refused precondition,
    #: a lost answer re-read and found unchanged); the pipeline says "nothing was applied" only then.
    nothing_written = False

    def __init__(
        self, message: str, hint: str | None = None, *, nothing_written: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if nothing_written is not None:
            self.nothing_written = nothing_written

    def line(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class ChecksFailed(CutoverError):
    """Drift, not propagated, lint errors, a closed gate: exit 1."""

    exit_code = 1


class DriftError(ChecksFailed):
    """The live RRset is not the one the plan was made against: nothing was applied."""

    nothing_written = True


class UsageError(CutoverError):
    """Bad input or usage (config, template, flags): exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    pass


class TemplateError(UsageError):
    pass


class ProviderError(CutoverError):
    """Provider or network failure: exit 3."""

    exit_code = 3


class LockHeld(CutoverError):
    """Another run holds the environment's lock: exit 4."""

    exit_code = 4


class StateWriteError(ProviderError):
    """Snapshot, journal, lock or settings could not be written durably (a full disk, EIO, a
    read-only file system, RLIMIT_FSIZE): exit 3. `path` and `reason` say where and why."""

    def __init__(
        self, message: str, hint: str | None = None, *, path: str = "", reason: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.path = path
        self.reason = reason


#: `plan --detailed-exitcode`: the plan is valid and changes are pending (Terraform's 2 is our
#: "bad input", so it gets a code of its own)
CHANGES_PENDING = 5

#: every exit code of the command line, as the README's table states them (a test compares)
EXIT_CODES: dict[int, str] = {
    0: "done, in sync, or nothing to do",
    ChecksFailed.exit_code: "checks failed: drift, not propagated, lint errors, a gate closed, "
    "a rollback that left someone's later edit alone, a saved plan that no longer matches",
    UsageError.exit_code: "bad input or usage: flags, the environment file, a template, a path",
    ProviderError.exit_code: "provider, network or state failure (a full disk)",
    LockHeld.exit_code: "the environment's lock is held by another run",
    CHANGES_PENDING: "`plan --detailed-exitcode`: changes are pending",
    129: "stopped by SIGHUP (journaled as interrupted)",
    130: "stopped by SIGINT (journaled as interrupted)",
    143: "stopped by SIGTERM (journaled as interrupted)",
}
