"""The `cutover` console script: the same Invoke collection as `invoke`, as one program.

Unlike Invoke's own `invoke` program (which exits 1 on a flag it cannot parse, the code this
tool uses for drift), a parse error here exits 2, "bad input or usage", so a CI job can tell a
typo in its workflow from DNS that is wrong.
"""

from __future__ import annotations

import os
import sys

from invoke import Argument, Exit, ParseError, Program

from . import __version__
from .tasks import ns


class CutoverProgram(Program):
    def core_args(self) -> list[Argument]:
        root = Argument(
            names=("root",),
            help="the infrastructure repo (default: the nearest folder up with environments/)",
        )
        return [*super().core_args(), root]

    def parse_core(self, argv) -> None:
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise Exit(f"error: {exc}; see `cutover --help`", code=2) from None
        if self.args.root.value:
            os.environ["CUTOVER_ROOT"] = self.args.root.value

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(f"error: {exc}; see `cutover --help TASK`", code=2) from None


program = CutoverProgram(namespace=ns, version=__version__, name="cutover", binary="cutover")


def main() -> None:
    try:
        program.run()
        sys.stdout.flush()
    except BrokenPipeError:
        # `cutover --list | head`: the reader left; say nothing, and keep Python's exit-time
        # flush from printing a traceback about it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
