"""The ``tulip`` command: parse arguments, call the package that does the work, map errors to exits.

Exit statuses: 0 ok, 1 some items failed, 2 bad usage or input, 126/127 command not executable/found
(spin), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from tulip.errors import TulipError

__all__ = ["main"]

EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, not a usage block and a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _cmd_demo(args: argparse.Namespace) -> int:
    from tulip.demo import run_demo

    return run_demo()


def _cmd_spin(args: argparse.Namespace) -> int:
    from tulip.supervise import spin_command

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return spin_command(command, text=args.text, timer=args.timer)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tulip", description="Concurrent network I/O on asyncio.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="a one-command tour on loopback")
    demo.set_defaults(func=_cmd_demo)

    spin = sub.add_parser("spin", help="run a command under a spinner")
    spin.add_argument("--text", help="message beside the spinner (default: the command line)")
    spin.add_argument("--timer", action="store_true", help="show the elapsed time")
    spin.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    spin.set_defaults(func=_cmd_spin)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tulip")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tulip`` command line and return its exit status."""
    args = _build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except TulipError as exc:
        print(f"tulip {args.cmd}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"tulip {args.cmd}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
