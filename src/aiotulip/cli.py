"""The ``tulip`` command: dispatch to the part that owns the command (its ``cli`` module adds the
arguments and runs them), and map errors to exit statuses.

Exit statuses: 0 ok, 1 some items failed, 2 bad usage or input, 126/127 command not executable/found
(spin), 128+N interrupted by signal N (ended by the signal itself: see _end_by_signal).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from aiotulip._version import __version__
from aiotulip.errors import TulipError

TYPE_CHECKING = False  # typing itself is not imported: start-up is part of every command
if TYPE_CHECKING:
    import argparse
    from typing import NoReturn, Protocol

    class PartCli(Protocol):
        """What each part's ``cli`` module gives the dispatcher."""

        def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
        def run(self, args: argparse.Namespace) -> int: ...


__all__ = ["main"]

EXIT_INTERRUPTED = 130


def _parser_class() -> type[argparse.ArgumentParser]:
    """argparse, loaded only when a command line needs parsing (not for ``tulip --version``)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        """An ArgumentParser whose usage errors are one line, not a usage block and a line.

        Its formatters are given their width: argparse makes one for every argument it adds (to
        check the metavar), and each would otherwise import shutil and ask the terminal its size —
        5 ms of every start, for help text that is rarely printed.
        """

        def error(self, message: str) -> NoReturn:
            if message.startswith("ambiguous option: "):  # (argparse's says the value: --us=bob:pw)
                message = re.sub(r"(?<=^ambiguous option: )(\S+?)=\S*", r"\1=...", message)
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

        def _get_formatter(self) -> argparse.HelpFormatter:
            make: Callable[..., argparse.HelpFormatter] = self.formatter_class
            if make is argparse.HelpFormatter:
                make = _Formatter
            return make(prog=self.prog, width=_help_width())

    class _Formatter(argparse.HelpFormatter):
        """Every option's default in its help, as curl's and wget2's manuals give them: "(default
        16)", "(default 30 s)" for seconds (a metavar S) — unless the help says it already."""

        def _get_help_string(self, action: argparse.Action) -> str | None:
            text = action.help
            default = action.default
            if (
                not text
                or text == argparse.SUPPRESS
                or "default" in text
                or default in (None, False, True, "", [], argparse.SUPPRESS)
                or not action.option_strings
                or action.nargs == 0  # (a flag: its default is another flag's value)
            ):
                return text
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            unit = " s" if action.metavar in ("S", "SECONDS") else ""
            return f"{text} (default {shown.replace('%', '%%')}{unit})"

    return _Parser


@functools.cache
def _help_width() -> int:
    """The width argparse would choose (COLUMNS, else the terminal's, else 80; less 2)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            stdout = sys.__stdout__
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 80
        except (OSError, ValueError, AttributeError):
            columns = 80
    return max(columns - 2, 11)


# The commands: name -> (one-line help, the module that owns its arguments and its run). Only the
# chosen command's module is imported and only its arguments are built: ``tulip --version`` and
# ``tulip --help`` import nothing of the downloader, and ``tulip spin`` nothing of the server.
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("a one-command tour on loopback", "aiotulip.demo"),
    "spin": ("run a command under a spinner", "aiotulip.spin.cli"),
    "serve": ("an HTTP file server with dialable faults", "aiotulip.serve.cli"),
    "proxy": ("TCP fault proxies behind toxiproxy's API", "aiotulip.proxy.cli"),
    "fetch": ("download many files concurrently, verified and resumable", "aiotulip.download.cli"),
    "bench": ("tulip's engines beside curl, aria2c and wget2", "aiotulip.bench.cli"),
    "completion": ("print a shell completion script (bash, zsh, fish)", "aiotulip.completion"),
}
_CONFIGURED = ("fetch", "serve")  # the commands whose defaults the config file sets (shared/config.py)


def _part(command: str) -> PartCli:
    import importlib

    return importlib.import_module(_COMMANDS[command][1])  # a module as PartCli


def _build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of *command* only (of every command when None)."""
    parser_class = _parser_class()
    parser = parser_class(prog="tulip", description="Concurrent network I/O on asyncio.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=parser_class)
    for name, (help_text, _module) in _COMMANDS.items():
        child = sub.add_parser(name, help=help_text)
        if command in (None, name):
            part = _part(name)
            part.add_arguments(child)
            child.set_defaults(func=part.run)
            if name in _CONFIGURED:
                from aiotulip.shared import config

                config.add_arguments(child)
        child.set_defaults(parser=child)
    return parser


def _chosen(argv: Sequence[str]) -> str:
    """The command *argv* names ("" when none: top-level --help, --version or a mistake)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _COMMANDS else ""
        if word in ("-h", "--help", "--version"):
            return ""
    return ""


def _parse(parser: argparse.ArgumentParser, words: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse *words*; a URL after an option is a URL too (``tulip fetch URL -o a URL2``), as curl
    reads its command line, where argparse alone would call the second URL unrecognized."""
    args, extra = parser.parse_known_args(words)
    if extra and getattr(args, "urls", None) is not None and not any(w.startswith("-") for w in extra):
        args.urls = [*args.urls, *extra]
        return args, []
    return args, extra


def _unechoed(word: str) -> str:
    """An unrecognized word as the error line shows it: a mistyped option's value may be the
    password meant for ``--pass`` (``--passwd=s3cret``, ``--usr bob:s3cret``), so only an option's
    name is said."""
    if word.startswith("--"):
        return word.partition("=")[0] + ("=..." if "=" in word else "")
    if word.startswith("-"):  # (-Zs3cret: a short option's value joined to it)
        return word[:2] + ("..." if len(word) > 2 else "")
    return "..."


_USERINFO = re.compile(r"(?<=/)[^/:@\s]+:[^/@\s]*@")
# (and a user with no password, which may be a token, where a scheme's // was: http:/TOKEN@h)
_USER_ONLY = re.compile(r"(?<=[:/]/)[^/:@\s]+@(?=[^/@\s]*(?:/|\s|$))")


def _public(message: str) -> str:
    """An error line with the password of any URL in it hidden: a URL can reach an error through
    any option that names a file (`--json http://u:pw@h/x`, `-i`, `--config`), not only as a URL."""
    if "@" not in message:
        return message
    from aiotulip.download.scripts import public_error

    # (and a URL half-typed, or made into a folder's name: http:/u:pw@h, //u:pw@h)
    return _USER_ONLY.sub("***@", _USERINFO.sub("***@", public_error(message) or message))


def _fill_standard_fds() -> None:
    """Give a closed standard descriptor (`2>&-`) /dev/null. Left free, the next socket took it:
    what was said to stderr went to a server, and libuv, closing it, aborted the run (SIGABRT)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            # (open takes the lowest free number: this one, the lower ones being filled already)
            os.open(os.devnull, os.O_RDWR)
            from aiotulip.shared.output import CLOSED_AT_START  # (only then: start-up counts)

            CLOSED_AT_START.add(fd)
    # (Python starts with None for a stream whose descriptor was closed; print(file=None) would
    # then write what is meant for stderr to stdout)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (the process's own, for its life)
    if sys.stderr is None:
        sys.stderr = open(2, "w", errors="backslashreplace", closefd=False)  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tulip`` command line and return its exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    if argv is None:  # this process's own command line: off the process list with any secret in it
        from aiotulip.shared.proctitle import hide_secrets

        hide_secrets(words)
        _fill_standard_fds()
    if words == ["--version"]:  # the one answer scripts ask for most: no parser to build
        print(f"tulip {__version__}")
        return 0
    try:
        parser = _build_parser(_chosen(words))
        args, extra = _parse(parser, words)
        typed = args  # the command line's values alone: the config file's never reach the title
        if args.cmd in _CONFIGURED:
            from aiotulip.shared import config

            try:
                if config.apply(args.parser, args.cmd, args.config, args.no_config):
                    args, extra = _parse(parser, words)  # again: the file's values as defaults
            except TulipError as exc:
                print(f"tulip {args.cmd}: error: {_public(str(exc))}", file=sys.stderr)
                return exc.exit_status
    except KeyboardInterrupt:  # Ctrl-C while starting: as quiet as one while running
        _ignore_late_interrupts()
        if argv is None:
            _end_by_signal(signal.SIGINT)
        return EXIT_INTERRUPTED
    if extra:  # reported by the subcommand, so the message names it and its --help
        args.parser.error(f"unrecognized arguments: {' '.join(_unechoed(word) for word in extra)}")
    if argv is None:  # again, knowing the values: abbreviated and combined options hide nothing now
        from aiotulip.shared.proctitle import hide_parsed

        hide_parsed(words, typed)
    func: Callable[[argparse.Namespace], int] = args.func
    status = 1
    try:
        status = func(args)
    except TulipError as exc:
        print(f"tulip {args.cmd}: error: {_public(str(exc))}", file=sys.stderr)
        status = exc.exit_status
    except KeyboardInterrupt:
        from aiotulip.shared import signals as _signals

        signum = _signals.received()
        print(f"tulip {args.cmd}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED if signum is None else 128 + signum
    finally:
        _ignore_late_interrupts(status if argv is None else None)
    if argv is None and status - 128 in _ENDED_BY:
        _end_by_signal(status - 128)
    return status


# The signals whose status (128+N) this process ends by the signal itself, all said and written.
_ENDED_BY = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _end_by_signal(signum: int) -> None:
    """End this process by *signum*, as the signal would have ended it (a shell shows 128+N).

    An exit status of 130 told a shell running tulip from a script that tulip had handled the
    Ctrl-C itself, and the script went on (bash's rule; a loop over tulip commands took one Ctrl-C
    each). Ended by the signal, the script stops, as it does after curl, wget or Python itself.
    Everything is said and written by now: the report, the summary, the terminal given back."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)


def _ignore_late_interrupts(status: int | None = None) -> None:
    """Once the exit status is decided, let a late Ctrl-C change nothing.

    At the very end of interpreter shutdown Python puts SIGINT back to the system default, so a
    Ctrl-C landing there would kill a run that had finished (exit -2 instead of its status).
    An ignored SIGINT is left alone by that shutdown. Given the *status* of this process's own
    command line (not a caller's), SIGTERM and SIGHUP are ignored too: one in ten landing at the end
    of a finished run killed it during shutdown, its report written and its status lost. (A handler
    of Python's is put back to the default by that shutdown: only ignoring holds to the end.)
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, *((signal.SIGTERM, signal.SIGHUP) if status is not None else ())):
        signal.signal(sig, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
