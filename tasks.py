"""Invoke entry point for this repository; a user's infrastructure repo can hold the same line."""

from cutover.tasks import ns  # noqa: F401
