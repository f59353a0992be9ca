"""``tulip spin``: its arguments and its run (a command, or several, under spinners)."""

from __future__ import annotations

import argparse

from aiotulip.shared.args import positive

__all__ = ["add_arguments", "run"]


def add_arguments(spin: argparse.ArgumentParser) -> None:
    spin.add_argument("--text", help="message beside the spinner (default: the command line)")
    spin.add_argument("--timer", action="store_true", help="show the elapsed time")
    spin.add_argument(
        "-j", "--jobs", type=positive, metavar="N", help="run the commands on stdin (one a line), N at a time"
    )
    spin.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- CMD [ARGS...] [::: CMD2 ...]",
        help="':::' between several",
    )


def run(args: argparse.Namespace) -> int:
    from aiotulip.spin.supervise import spin_command

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return spin_command(command, text=args.text, timer=args.timer, jobs=args.jobs)
