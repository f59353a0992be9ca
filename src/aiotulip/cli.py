"""The ``tulip`` command: parse arguments, call the package that does the work, map errors to exits.

Exit statuses: 0 ok, 1 some items failed, 2 bad usage or input, 126/127 command not executable/found
(spin), 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from aiotulip._version import __version__
from aiotulip.errors import TulipError, UsageError
from aiotulip.shared.args import (
    byte_count,
    codes,
    count,
    int_list,
    label_python,
    path,
    port,
    positive,
    positive_float,
    probability,
    rate,
    seconds,
    size_range,
    word_list,
)

TYPE_CHECKING = False  # typing itself is not imported: start-up is part of every command
if TYPE_CHECKING:
    import argparse
    from typing import NoReturn

    from aiotulip.serve import RunningServer

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
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

        def _get_formatter(self) -> argparse.HelpFormatter:
            return self.formatter_class(prog=self.prog, width=_help_width())

    return _Parser


@functools.cache
def _help_width() -> int:
    """The width argparse would choose (COLUMNS, else the terminal's, else 80; less 2)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            columns = 80
    return max(columns - 2, 11)


def _cmd_demo(args: argparse.Namespace) -> int:
    from aiotulip.demo import run_demo

    return run_demo()


def _cmd_spin(args: argparse.Namespace) -> int:
    from aiotulip.spin.supervise import spin_command

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return spin_command(command, text=args.text, timer=args.timer, jobs=args.jobs)


def _cmd_serve(args: argparse.Namespace) -> int:
    from aiotulip.serve import Faults, ServeConfig, run_forever

    if args.root is not None and (args.files is not None or args.size is not None):
        raise UsageError("--root serves a directory; --files and --size describe a synthetic corpus")
    if args.upstream is not None and (
        args.root is not None or args.files is not None or args.size is not None
    ):
        raise UsageError("--upstream serves another server's files; --root, --files and --size serve tulip's")
    faults = Faults(
        delay=args.delay,
        jitter=args.jitter,
        error_rate=args.error_rate,
        error_codes=args.error_codes,
        retry_after=args.retry_after,
        drop_rate=args.drop_rate,
        truncate_rate=args.truncate_rate,
        stall_rate=args.stall_rate,
        reset_rate=args.reset_rate,
        reset_after=args.reset_after,
        bandwidth=args.bandwidth,
        upstream_delay=args.upstream_delay,
        slice_size=args.slice_size,
        slice_delay=args.slice_delay,
        limit_data=args.limit_data,
        slow_close=args.slow_close,
        paths=tuple(args.fault_path or ()),
    )
    config = ServeConfig(
        host=args.host,
        port=args.port,
        files=100 if args.files is None else args.files,
        size=args.size or (2048, 2048),
        root=args.root,
        seed=args.seed,
        faults=faults,
        access_log=args.access_log,
        header_timeout=args.header_timeout,
        upstream=args.upstream,
        upstream_ca=args.upstream_ca,
        upstream_insecure=args.upstream_insecure,
        cert=args.cert,
        key=args.key,
        self_signed=args.tls == "self-signed",
        gzip=args.gzip,
        index=args.index,
        cache_control=args.cache_control,
    )
    if args.tls == "cert" and args.cert is None:
        raise UsageError("--tls needs --cert FILE (and --key FILE), or --tls self-signed")
    if args.access_log:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")

    def announce(server: RunningServer) -> None:
        url = server.url
        if config.upstream is not None:
            print(f"tulip serve: {url}/ -> {config.upstream}  (faults on its answers; Ctrl-C stops)")
        else:
            print(f"tulip serve: {url}/  (manifest {url}/manifest.json; Ctrl-C stops)")
        if server.ca_file is not None:
            print(
                f"tulip serve: CA certificate {server.ca_file} (tulip fetch --ca-certificate, curl --cacert)"
            )
        sys.stdout.flush()

    run_forever(config, announce)
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from aiotulip.download.cli import run

    return run(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from aiotulip.bench import run_bench

    rows = run_bench(
        args.workload,
        scale=args.scale,
        concurrency=args.concurrency,
        engines=args.engines,
        peers=not args.no_peers,
        repeat=args.repeat,
        json_path=args.json,
        plot_path=args.plot,
        work_dir=args.dir,
        compare=dict(args.compare or []),
    )
    return 0 if all(row.status != "failed" or not row.client.startswith("tulip") for row in rows) else 1


# The commands: name, one-line help, the function that adds its arguments, the function that runs it.
# Only the chosen command's arguments are built: ``tulip --version`` and ``tulip --help`` import nothing
# of the downloader, and ``tulip spin`` nothing of the server.


def _spin_arguments(spin: argparse.ArgumentParser) -> None:
    import argparse

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


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=port, default=8000, help="0 picks a free port (default 8000)")
    corpus = serve.add_argument_group("corpus (default: 100 synthetic files of 2k)")
    corpus.add_argument("--files", type=count, help="number of synthetic files")
    corpus.add_argument("--size", type=size_range, help="size of each file: 2k, 50M, or a range 1k-64k")
    corpus.add_argument("--root", type=path, help="serve this directory instead")
    corpus.add_argument("--seed", type=int, default=0, help="seeds the content and the faults")
    corpus.add_argument(
        "--upstream", metavar="URL", help="proxy mode: forward every request to this server, faults applied"
    )
    corpus.add_argument(
        "--upstream-ca", type=path, metavar="FILE", help="trust this CA for an https upstream"
    )
    corpus.add_argument("--upstream-insecure", action="store_true", help="do not check its certificate")
    faults = serve.add_argument_group("faults (rates are probabilities per file request)")
    faults.add_argument("--delay", type=seconds, default=0.0, metavar="S", help="wait before answering")
    faults.add_argument("--jitter", type=seconds, default=0.0, metavar="S", help="add up to S more")
    faults.add_argument("--error-rate", type=probability, default=0.0, metavar="P")
    faults.add_argument("--error-codes", type=codes, default=(500, 503, 429), metavar="LIST")
    faults.add_argument("--retry-after", type=seconds, default=1.0, metavar="S", help="sent with 429/503")
    faults.add_argument("--drop-rate", type=probability, default=0.0, metavar="P", help="reset mid-body")
    faults.add_argument("--truncate-rate", type=probability, default=0.0, metavar="P", help="close mid-body")
    faults.add_argument("--stall-rate", type=probability, default=0.0, metavar="P", help="never answer")
    faults.add_argument("--reset-rate", type=probability, default=0.0, metavar="P", help="RST the connection")
    faults.add_argument("--reset-after", type=seconds, default=0.0, metavar="S", help="... S into the answer")
    faults.add_argument("--bandwidth", type=rate, metavar="RATE", help="per response, e.g. 500k or 10M")
    faults.add_argument(
        "--fault-path",
        action="append",
        metavar="GLOB",
        help="faults only for these URL paths ('files/*.iso')",
    )
    tcp = serve.add_argument_group("TCP shapes (toxiproxy's toxics, on every answer the faults reach)")
    tcp.add_argument("--upstream-delay", type=seconds, default=0.0, metavar="S", help="hold each request S")
    tcp.add_argument(
        "--slice-size", type=byte_count, default=0, metavar="SIZE", help="write bodies in pieces"
    )
    tcp.add_argument("--slice-delay", type=seconds, default=0.0, metavar="S", help="... S apart")
    tcp.add_argument(
        "--limit-data", type=byte_count, default=0, metavar="SIZE", help="close after SIZE bytes"
    )
    tcp.add_argument("--slow-close", type=seconds, default=0.0, metavar="S", help="wait S before closing")
    http = serve.add_argument_group("HTTP")
    http.add_argument("--gzip", action="store_true", help="gzip text files for clients that accept it")
    http.add_argument("--index", action="store_true", help="list folders under /files/ (HTML, or JSON)")
    http.add_argument("--cache-control", metavar="VALUE", help="send this Cache-Control with every file")
    tls = serve.add_argument_group("HTTPS")
    tls.add_argument(
        "--tls",
        nargs="?",
        const="cert",
        choices=("cert", "self-signed"),
        help="serve HTTPS (self-signed: a throwaway CA)",
    )
    tls.add_argument("--cert", type=path, metavar="FILE", help="certificate chain (PEM); implies --tls")
    tls.add_argument("--key", type=path, metavar="FILE", help="its private key (PEM), unless in --cert")
    serve.add_argument(
        "--header-timeout", type=seconds, default=60.0, metavar="S",
        help="close a connection that has not sent a whole request in S (0: never; default 60)",
    )  # fmt: skip
    serve.add_argument("--access-log", action="store_true", help="log every request")


def _fetch_arguments(fetch: argparse.ArgumentParser) -> None:
    from aiotulip.download.cli import add_arguments

    add_arguments(fetch)


def _bench_arguments(bench: argparse.ArgumentParser) -> None:
    workloads = ("latency", "small", "bulk", "c10k", "split", "mirrors")
    bench.add_argument("--workload", action="append", choices=workloads,
                       help="run only this workload (repeatable; default all)")  # fmt: skip
    bench.add_argument("--scale", type=positive_float, default=0.25, metavar="X",
                       help="multiply every workload's file count (default 0.25)")  # fmt: skip
    bench.add_argument("--concurrency", type=int_list, metavar="LIST", help="e.g. 1,10,100")
    bench.add_argument("--engines", type=word_list, metavar="LIST",
                       help="e.g. threads,asyncio,asyncio:2 (:N: N processes)")  # fmt: skip
    bench.add_argument("--repeat", type=positive, default=1, metavar="N", help="runs per client, median kept")
    bench.add_argument("--no-peers", action="store_true", help="tulip's engines only")
    bench.add_argument(
        "--dir", metavar="DIR", help="where clients write (default: the temp dir; /dev/shm: RAM)"
    )
    bench.add_argument("--compare", type=label_python, action="append", metavar="LABEL=PYTHON",
                       help="also run tulip's engines as installed for PYTHON (another version)")  # fmt: skip
    bench.add_argument("--json", metavar="FILE", help="write every row as JSON")
    bench.add_argument("--plot", metavar="PNG", help="plot time against concurrency (needs aiotulip[plot])")


_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None] | None, Callable[..., int]]] = {
    "demo": ("a one-command tour on loopback", None, _cmd_demo),
    "spin": ("run a command under a spinner", _spin_arguments, _cmd_spin),
    "serve": ("an HTTP file server with dialable faults", _serve_arguments, _cmd_serve),
    "fetch": ("download many files concurrently, verified and resumable", _fetch_arguments, _cmd_fetch),
    "bench": ("tulip's engines beside curl, aria2c and wget2", _bench_arguments, _cmd_bench),
}


def _build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of *command* only (of every command when None)."""
    parser_class = _parser_class()
    parser = parser_class(prog="tulip", description="Concurrent network I/O on asyncio.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=parser_class)
    for name, (help_text, arguments, run) in _COMMANDS.items():
        child = sub.add_parser(name, help=help_text)
        if arguments is not None and command in (None, name):
            arguments(child)
        child.set_defaults(func=run, parser=child)
    return parser


def _chosen(argv: Sequence[str]) -> str:
    """The command *argv* names ("" when none: top-level --help, --version or a mistake)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _COMMANDS else ""
        if word in ("-h", "--help", "--version"):
            return ""
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tulip`` command line and return its exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    if words == ["--version"]:  # the one answer scripts ask for most: no parser to build
        print(f"tulip {__version__}")
        return 0
    try:
        args, extra = _build_parser(_chosen(words)).parse_known_args(words)
    except KeyboardInterrupt:  # Ctrl-C while starting: as quiet as one while running
        _ignore_late_interrupts()
        return EXIT_INTERRUPTED
    if extra:  # reported by the subcommand, so the message names it and its --help
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except TulipError as exc:
        print(f"tulip {args.cmd}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        from aiotulip.shared import signals as _signals

        signum = _signals.received()
        print(f"tulip {args.cmd}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED if signum is None else 128 + signum
    finally:
        _ignore_late_interrupts()


def _ignore_late_interrupts() -> None:
    """Once the exit status is decided, let a late Ctrl-C change nothing.

    At the very end of interpreter shutdown Python puts SIGINT back to the system default, so a
    Ctrl-C landing there would kill a run that had finished (exit -2 instead of its status).
    An ignored SIGINT is left alone by that shutdown.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
