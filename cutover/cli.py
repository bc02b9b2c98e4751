"""The `cutover` console script: the same Invoke collection as `invoke`, as one program."""

from __future__ import annotations

from invoke import Program

from . import __version__
from .tasks import ns

program = Program(namespace=ns, version=__version__, name="cutover", binary="cutover")


def main() -> None:
    program.run()
