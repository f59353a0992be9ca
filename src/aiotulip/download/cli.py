"""``tulip fetch``: its arguments (named as curl, wget2 and aria2c users know them) and its run.

The arguments become one FetchOptions, the same object the Python API takes, so the command line
cannot offer what the API lacks, or check a value differently.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import stat
import sys
from typing import TYPE_CHECKING, Any

from aiotulip.download.options import ENGINES, TRANSPORTS
from aiotulip.errors import UsageError
from aiotulip.shared.args import bounded, count, limit, positive, positive_seconds, size, typed

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiotulip.download.models import Report
    from aiotulip.download.options import FetchOptions
    from aiotulip.download.progress import Progress
    from aiotulip.download.scripts import Scripted

__all__ = ["add_arguments", "run"]


def _count(said: str) -> Callable[[str], int]:
    """A positive count whose option another tool spells for something else: given a URL, the
    user meant that other option, and *said* tells what this one is here."""

    def parse(text: str) -> int:
        if "://" in text:
            from aiotulip.download.http.urls import redact

            raise argparse.ArgumentTypeError(f"{redact(text)[:80]!r} is a URL: {said}")
        value: int = positive(text)
        return value

    return parse


# wget's and aria2c's -c (continue) and curl's -s (silent) are the ones a URL after them says was meant.
_concurrency = _count(
    "-c is --concurrency here (an interrupted download resumes by itself, as wget -c asks; "
    "--continue is accepted)"
)
_split = _count("-s is --split here, as aria2c's (-q or --silent for curl's -s)")


def _continue_at(text: str) -> str:
    """curl's -C: only '-' (where the file ends), which tulip does anyway, never an offset."""
    if text != "-":
        raise argparse.ArgumentTypeError(f"{text!r}: only '-C -' (tulip resumes where the part ends)")
    return text


def add_arguments(fetch: argparse.ArgumentParser) -> None:
    """Add every option of ``tulip fetch`` to *fetch*, grouped as curl and wget2 group theirs."""
    fetch.add_argument("urls", nargs="*", metavar="URL")
    source = fetch.add_argument_group("what to fetch")
    source.add_argument("-i", "--input", metavar="FILE", help="URLs from FILE (- for stdin), aria2c style")
    source.add_argument("--manifest", metavar="URL", help="download and verify every file a manifest lists")
    source.add_argument("-M", "--metalink", action="append", default=[], metavar="FILE",
                        help="the files a Metalink lists (.meta4, .metalink), hashes, mirrors")  # fmt: skip

    where = fetch.add_argument_group("where, and how many at once")
    where.add_argument("-d", "--dest", default=".", metavar="DEST", help="directory to write to (default .)")
    where.add_argument("-o", "--output", metavar="FILE",
                       help="save the one URL as FILE (under -d), or - for stdout")  # fmt: skip
    where.add_argument("-O", "--remote-name", action="store_true",
                       help="name the file after the URL (the default; for curl's habit)")  # fmt: skip
    where.add_argument(
        "-c", "--concurrency", type=_concurrency, default=16, metavar="N", help="downloads in flight"
    )
    where.add_argument("--continue", dest="continue_", action="store_true",
                       help="resume what an earlier run began (always done; wget, aria2c)")  # fmt: skip
    where.add_argument("-C", "--continue-at", type=_continue_at, metavar="-",
                       help="curl's '-C -': resume where the file ends (always done)")  # fmt: skip
    where.add_argument("--per-host", type=positive, metavar="N", help="connections per host")
    where.add_argument("--engine", choices=ENGINES, default="asyncio",
                       help="what waits: tasks on one event loop, threads, or one at a time")  # fmt: skip
    where.add_argument("--transport", choices=TRANSPORTS, default="auto",
                       help="what moves the bytes: libcurl (auto), or tulip's HTTP/1.1 (lean)")  # fmt: skip
    where.add_argument("--overwrite", action="store_true",
                       help="download again even if complete, over any file under the name")  # fmt: skip
    where.add_argument("-nc", "--no-clobber", action="store_true",
                       help="keep any file under the name, taken as done (else one tulip cannot vouch "
                       "for is kept and the download saved beside it, as NAME.1.EXT)")  # fmt: skip
    where.add_argument("--fsync", action="store_true", help="flush each file to disk before its rename")
    where.add_argument("-N", "--timestamping", action="store_true",
                       help="ask again for complete files; fetch only what the server changed")  # fmt: skip
    where.add_argument("--no-remote-time", action="store_true", help="do not give files the server's mtime")
    where.add_argument("--compressed", action="store_true",
                       help="ask for gzip (br, zstd where installed) and save the decoded bytes")  # fmt: skip
    where.add_argument("--max-filesize", type=limit, metavar="SIZE",
                       help="no file larger, e.g. 2G (0: no limit)")  # fmt: skip
    where.add_argument("--max-ratio", type=_ratio, default=200.0, metavar="N",
                       help="--compressed: a body inflating N times its size fails (0: any)")  # fmt: skip
    where.add_argument("--no-resume-unvalidated", action="store_true",
                       help="start over a part no validator or checksum vouches for")  # fmt: skip
    where.add_argument(
        "--cluster", metavar="ADDRESS", help="a Dask scheduler address, or local:N for N workers"
    )
    where.add_argument("--shard-size", type=positive, metavar="N", help="items per cluster task")
    where.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        metavar="N",
        help="processes sharing the items and -c (default auto: one a core, up to 4, for long lists)",
    )

    big = fetch.add_argument_group("big files")
    big.add_argument("-s", "--split", type=_split, default=1, metavar="N",
                     help="connections per file where the server takes ranges (aria2c -s)")  # fmt: skip
    big.add_argument("--min-split-size", type=size, default=20 * 1024 * 1024, metavar="SIZE",
                     help="no span smaller (default 20M): a file under twice it is not split")  # fmt: skip
    big.add_argument("--limit-rate", type=limit, metavar="RATE",
                     help="bytes a second for the whole run, e.g. 10M (0: none)")  # fmt: skip
    big.add_argument("--limit-rate-per-file", type=limit, metavar="RATE",
                     help="bytes a second for each file (0: none)")  # fmt: skip

    names = fetch.add_argument_group("names")
    names.add_argument("--layout", choices=("flat", "tree"), default="flat",
                       help="the URL's last segment, or host/path as folders (tree: wget -x)")  # fmt: skip
    names.add_argument(
        "--cut-dirs", type=count, default=0, metavar="N", help="tree: leave out N leading folders"
    )
    names.add_argument("-nH", "--no-host-directories", action="store_true", help="tree: no host folder")
    names.add_argument("--content-disposition", action="store_true",
                       help="the name a server's Content-Disposition gives, when it gives one")  # fmt: skip
    names.add_argument("--on-collision", choices=("error", "number", "query"), default="error",
                       help="two URLs, one name: refuse, number (a.1.bin), or keep the query")  # fmt: skip

    http = fetch.add_argument_group("HTTP")
    http.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header with every request (repeatable; an empty value drops one)",
    )
    http.add_argument("-A", "-U", "--user-agent", metavar="TEXT", help="the User-Agent header")
    http.add_argument("-u", "--user", metavar="USER:PASSWORD",
                      help="Basic credentials for the URLs' origins (@FILE: its first line)")  # fmt: skip
    http.add_argument("--netrc-file", metavar="FILE", help="credentials by host (default ~/.netrc, if there)")
    http.add_argument("--no-netrc", action="store_true", help="do not read ~/.netrc")
    http.add_argument(
        "-b", "--load-cookies", metavar="FILE", help="start with these cookies (Netscape format)"
    )
    http.add_argument(
        "--max-redirects", type=count, default=20, metavar="N", help="redirects in a row (default 20)"
    )
    http.add_argument("-L", "--location", action="store_true",
                      help="accepted for curl's habit: redirects are always followed")  # fmt: skip
    http.add_argument("--location-trusted", action="store_true",
                      help="send --user and -H headers to other hosts redirects lead to")  # fmt: skip

    http.add_argument("--http1.1", dest="http_version", action="store_const", const="1.1",
                      help="HTTP/1.1 only (default: HTTP/2 over TLS where the server offers it)")  # fmt: skip
    http.add_argument("--http2", dest="http_version", action="store_const", const="2",
                      help="HTTP/2 over TLS by ALPN, 1.1 in the clear (the default)")  # fmt: skip
    http.add_argument("--http2-prior-knowledge", dest="http_version", action="store_const",
                      const="2-prior-knowledge", help="HTTP/2 in the clear, unasked (h2c)")  # fmt: skip
    http.add_argument("--http3", dest="http_version", action="store_const", const="3",
                      help="try HTTP/3 (QUIC) first, fall back to TCP")  # fmt: skip
    http.add_argument("--http3-only", dest="http_version", action="store_const", const="3-only",
                      help="HTTP/3 or nothing")  # fmt: skip
    http.add_argument("--basic", dest="http_auth", action="store_const", const="basic",
                      help="send credentials at once, as Basic (the default)")  # fmt: skip
    http.add_argument("--digest", dest="http_auth", action="store_const", const="digest",
                      help="answer the server's Digest challenge with the credentials")  # fmt: skip
    http.add_argument("--ntlm", dest="http_auth", action="store_const", const="ntlm", help="NTLM")
    http.add_argument("--anyauth", dest="http_auth", action="store_const", const="any",
                      help="the safest scheme the server offers")  # fmt: skip
    http.set_defaults(http_version="2", http_auth="basic")
    files = fetch.add_argument_group("ftp and sftp")
    files.add_argument("--ssh-key", metavar="FILE", help="sftp: the private key to log in with")
    files.add_argument("--pass", dest="key_passphrase", metavar="PHRASE",
                       help="sftp: the passphrase of --ssh-key (kept off the process list)")  # fmt: skip
    files.add_argument("--known-hosts", metavar="FILE",
                       help="sftp: the host keys to trust (default ~/.ssh/known_hosts)")  # fmt: skip

    proxy = fetch.add_argument_group("proxy (default: $http_proxy, $https_proxy, $all_proxy, $no_proxy)")
    proxy.add_argument("-x", "--proxy", metavar="URL",
                       help="send every request through this proxy: http://, https://, socks4://, "
                            "socks4a://, socks5://, socks5h:// (the proxy resolves names)")  # fmt: skip
    proxy.add_argument("--no-proxy", "--noproxy", metavar="LIST", help="hosts to reach directly ('*': all)")
    proxy.add_argument("--proxy-user", metavar="USER:PASSWORD", help="credentials for the proxy (or @FILE)")

    tls = fetch.add_argument_group("TLS")
    tls.add_argument("--ca-certificate", "--cacert", metavar="FILE", help="also trust this CA (PEM)")
    tls.add_argument("-k", "--insecure", action="store_true", help="do not check certificates (warns)")
    tls.add_argument("--client-cert", "--cert", metavar="FILE", help="a client certificate (PEM)")
    tls.add_argument("--client-key", "--key", metavar="FILE", help="its private key, if not in the cert file")

    retry = fetch.add_argument_group("retries and timeouts")
    retry.add_argument("--retries", type=count, default=5, metavar="N", help="attempts after the first")
    retry.add_argument(
        "--timeout", type=positive_seconds, default=30.0, metavar="S", help="idle-read timeout"
    )
    retry.add_argument(
        "--connect-timeout", type=positive_seconds, metavar="S", help="default min(10, timeout)"
    )
    retry.add_argument("--item-timeout", type=positive_seconds, metavar="S", help="all attempts of one item")
    retry.add_argument("-Y", "--speed-limit", "--lowest-speed-limit", type=size, metavar="RATE",
                       help="abandon and retry a transfer slower than RATE (e.g. 10K) for -y seconds; "
                       "a split download's slow span goes to another connection")  # fmt: skip
    retry.add_argument("-y", "--speed-time", type=positive_seconds, metavar="S",
                       help="how long a transfer may stay under -Y (default 30 s; alone, as in curl, "
                       "-Y is 1 byte a second)")  # fmt: skip

    output = fetch.add_argument_group("output")
    output.add_argument("--json", metavar="FILE", help="write the whole report as JSON")
    output.add_argument("-q", "--quiet", "--silent", action="store_true",
                        help="no progress; summary only on failure (--silent: curl's name)")  # fmt: skip

    scripts = fetch.add_argument_group("for scripts")
    scripts.add_argument("--on-complete", "--on-download-complete", metavar="CMD",
                         help="run CMD PATH as each item ends ok or skipped (no shell)")  # fmt: skip
    scripts.add_argument("--on-error", "--on-download-error", metavar="CMD",
                         help="run CMD URL as each item fails, is not found or is interrupted")  # fmt: skip
    scripts.add_argument("--hook-timeout", type=positive_seconds, default=60.0, metavar="S",
                         help="the longest a hook runs, and the wait for hooks at the end (60)")  # fmt: skip
    scripts.add_argument("--events", metavar="FILE",
                         help="JSON lines as items start, progress, retry, end (- for stdout)")  # fmt: skip
    scripts.add_argument("--save-failed", metavar="FILE",
                         help="write what did not make it as an -i file that runs it again")  # fmt: skip


_workers = typed(
    lambda t: "auto" if t == "auto" else int(bounded(int(t), 1, 10**7)),
    "a whole number from 1 to 10000000, or auto",
)


def options_from(args: argparse.Namespace):
    """Return the FetchOptions *args* ask for (UsageError for a bad combination)."""
    from aiotulip.download.http.auth import parse_user
    from aiotulip.download.options import FetchOptions

    def pair(text: str | None, option: str) -> tuple[str, str] | None:
        if text is None:
            return None
        if text.startswith("@"):  # @FILE: the pair is read from a file, never on the process list
            text = _first_line(text[1:], option)
        try:
            credentials = parse_user(text)
        except UsageError:
            raise UsageError(f"{option} takes USER:PASSWORD or @FILE holding it") from None
        return credentials.user, credentials.password

    if args.no_netrc and args.netrc_file:
        raise UsageError("--no-netrc and --netrc-file contradict each other")
    return FetchOptions(
        engine=args.engine,
        concurrency=args.concurrency,
        per_host=args.per_host,
        retries=args.retries,
        timeout=args.timeout,
        connect_timeout=args.connect_timeout,
        item_timeout=args.item_timeout,
        overwrite=args.overwrite,
        no_clobber=args.no_clobber,
        fsync=args.fsync,
        resume_unvalidated=not args.no_resume_unvalidated,
        transport=args.transport,
        http_version=args.http_version,
        http_auth=args.http_auth,
        ssh_key=_readable(args.ssh_key, "--ssh-key"),
        key_passphrase=args.key_passphrase,
        known_hosts=_readable(args.known_hosts, "--known-hosts"),
        cluster=args.cluster,
        workers=args.workers,
        shard_size=args.shard_size,
        layout=args.layout,
        cut_dirs=args.cut_dirs,
        no_host_directories=args.no_host_directories,
        on_collision=args.on_collision,
        content_disposition=args.content_disposition and args.output is None,  # -o names the file
        timestamping=args.timestamping,
        remote_time=not args.no_remote_time,
        compressed=args.compressed,
        max_filesize=args.max_filesize,
        max_ratio=args.max_ratio,
        split=args.split,
        min_split_size=args.min_split_size,
        limit_rate=args.limit_rate,
        limit_rate_per_file=args.limit_rate_per_file,
        speed_limit=args.speed_limit or (1 if args.speed_time else None),
        speed_time=args.speed_time or 30.0,
        headers=args.header,
        user_agent=args.user_agent,
        auth=pair(args.user, "--user"),
        netrc=False if args.no_netrc else (args.netrc_file or True),
        cookies=args.load_cookies,
        max_redirects=args.max_redirects,
        location_trusted=args.location_trusted,
        proxy=args.proxy,
        no_proxy=args.no_proxy,
        proxy_auth=pair(args.proxy_user, "--proxy-user"),
        ca_certificate=_readable(args.ca_certificate, "--ca-certificate"),
        insecure=args.insecure,
        client_cert=_readable(args.client_cert, "--client-cert"),
        client_key=_readable(args.client_key, "--client-key"),
        on_complete=args.on_complete,
        on_error=args.on_error,
        hook_timeout=args.hook_timeout,
        events=args.events,
        save_failed=args.save_failed,
    )


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a ratio is a number from 0 (no bound) up, not {text!r}")
    return value


def _first_line(path: str, option: str) -> str:
    """The first line of *path* (an @FILE argument), without its line ending."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise UsageError(f"{option} @{path}: {why}") from None


# A URL where a folder or a file is named: a scheme and a slash or two (`http:/h` half-typed too),
# or a network path with credentials (`//u:pw@h/`), after any blank a paste brought along.
_URL_LIKE = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]+:/|//[^/]*@)")  # (c:/x: a drive, not a scheme)


def _gather(args: argparse.Namespace, options: FetchOptions) -> tuple[Any, str]:
    """Return the run's sources (URLs, -i, --manifest, -M) and its destination."""
    from aiotulip.download.http.urls import redact
    from aiotulip.download.sources import UrlList, check_url, read_input

    for option, value, what in (("-d", args.dest, "a folder"), ("-o", args.output, "a file")):
        if value is not None and _URL_LIKE.match(value):  # (`-d URL`: "d" for download, once too often)
            raise UsageError(f"{option} names {what}, not a URL ({redact(value)}): give the URL on its own")
    sources: Any = [check_url(url, "argument") for url in args.urls]
    listed = read_input(args.input) if args.input is not None else []
    if isinstance(listed, UrlList) and not sources and args.manifest is None:
        sources = listed  # a plain list alone stays lazy
    elif isinstance(listed, UrlList):
        sources += listed.entries()
    else:
        sources += listed
    if args.manifest is not None:
        from aiotulip.download.manifest import load_manifest

        sources += load_manifest(args.manifest, options)
    if args.metalink:
        from aiotulip.download.metalink import read_metalink

        if isinstance(sources, UrlList):
            sources = sources.entries()
        for path in args.metalink:
            sources += read_metalink(path)
    if not sources and not (args.input is not None or args.manifest is not None or args.metalink):
        raise UsageError("nothing to fetch: give URLs, -i FILE, -M FILE or --manifest URL")
    # (a list given, and empty: nothing to do, not a mistake — a cron job's quiet day, as wget2
    # and aria2c take it)
    dest = args.dest
    if args.output is not None:
        sources, dest = _one_output(args.output, sources, dest)
    return sources, dest


def run(args: argparse.Namespace) -> int:
    """Run ``tulip fetch``; return its exit status."""
    from aiotulip.shared import signals as _signals

    with _signals.deferred():  # (asyncio, ssl, pycurl: a Ctrl-C meanwhile waits for their end)
        from aiotulip.download.api import fetch
    from aiotulip.errors import FetchInterrupted
    from aiotulip.shared.output import STDOUT_NAMES, check_links, check_output

    options = options_from(args)
    if args.json is not None:
        check_output(args.json, "--json")
    if args.output in STDOUT_NAMES:  # (any other -o is checked as it is named: its folder is made)
        check_output(args.output, "-o")
    if args.dest not in (None, "-"):
        check_links(args.dest, "-d")
    _not_over_the_lists(args)
    progress, scripted, machine_out = _for_scripts(args, options)
    report = None
    dest = args.dest
    try:
        sources, dest = _gather(args, options)
        if args.output not in (None, "-") and dest != "-" and sources:
            options = _named_output(sources, dest, options)
        with _signals.terminating_as_interrupt():
            report = fetch(sources, dest, options, progress=progress)
            with _signals.late():
                return _said(args, report, dest, scripted, machine_out, _signals.received())
    except FetchInterrupted as stopped:  # the run's own Ctrl-C (or SIGTERM, SIGHUP): its report stands
        with _signals.late():
            return _said(args, stopped.report, dest, scripted, machine_out, _signals.received())
    except KeyboardInterrupt:
        if report is not None:  # as the run ended, before its report was out: the report stands
            with _signals.late():
                return _said(args, report, dest, scripted, machine_out, _signals.received())
        # (while the sources were read or named: nothing begun, and --json says so)
        if args.json is not None:
            from aiotulip.download.models import Report

            with contextlib.suppress(OSError):
                Report([], options.engine, interrupted=True).write_json(args.json)
        raise


def _said(
    args: argparse.Namespace,
    report: Report,
    dest: str,
    scripted: Scripted | None,
    machine_out: list[str],
    signum: int | None,
) -> int:
    """Write the report and the summary of a run that is over; return the exit status."""
    from aiotulip.download.scripts import downloaded_there
    from aiotulip.download.summary import print_summary

    status = report.exit_status()
    if report.interrupted and signum is not None:
        status = 128 + signum
    if args.json is not None and downloaded_there(report, args.json):
        # (the report would take the place of a file the run has just made complete)
        print(f"tulip fetch: error: --json {args.json} is a file this run downloaded: "
              "the report was not written over it", file=sys.stderr)  # fmt: skip
        status = max(status, 2)
    elif args.json is not None:
        try:
            report.write_json(args.json)
        except OSError as exc:
            print(f"tulip fetch: error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            status = max(status, 2)
    status = _after_scripts(status, scripted, signum)
    # With the body, the report, the events or the saved list on standard output (-o -, --json -,
    # /dev/stdout), what is said goes to stderr.
    taken = bool(machine_out)
    try:
        if len(report.items) == 1 and not report.interrupted:
            if not args.quiet or not report.ok:
                # (no -N hint under -nc: what it kept may be nobody's download at all)
                print(_one_line(report, not args.no_clobber), file=sys.stderr if taken else sys.stdout)
        elif not args.quiet or not report.ok:
            print_summary(report, sys.stderr if taken else None)
    except (OSError, ValueError):  # its reader is gone (`| head`, a hung-up terminal): the report stands
        pass
    return status


def _for_scripts(
    args: argparse.Namespace, options: FetchOptions
) -> tuple[bool | Progress | None, Scripted | None, list[str]]:
    """Return what fetch's *progress* is (a Scripted tee when hooks, --events or --save-failed are
    asked for, made here to learn afterwards what could not be written), the tee, and the options
    that write to standard output: one at most, with nothing else beside it (UsageError if more)."""
    from aiotulip.download.progress import make_progress
    from aiotulip.download.scripts import Scripted
    from aiotulip.shared.output import is_stdout

    wanted = (("--json", args.json), ("--events", args.events), ("--save-failed", args.save_failed))
    taken = [option for option, path in wanted if path is not None and is_stdout(path)]
    # (-o /dev/stdout, or the file stdout goes to: the closing line went into the body's pipe)
    output = _output_path(args)
    if output is not None and is_stdout(output):
        taken.insert(0, "-o")
    if len(taken) > 1:
        each = "both" if len(taken) == 2 else "all"
        raise UsageError(f"{' and '.join(taken)} {each} name standard output; send all but one to a file")
    # The body to a terminal: no display beside it (as curl's meter), whose redraws cut its lines.
    quiet = args.quiet or ("-o" in taken and os.isatty(1))
    if not (args.on_complete or args.on_error or args.events is not None or args.save_failed is not None):
        return (False if quiet else None), None, taken
    scripted = Scripted(make_progress(False if quiet else None), options, stdout_busy=bool(taken))
    return scripted, scripted, taken


def _after_scripts(status: int, scripted: Scripted | None, signum: int | None) -> int:
    """Return the exit status once the scripts' outputs are counted: 2 for one that could not be
    written, 128+N for a signal that cut the wait for hooks short."""
    if scripted is not None and scripted.problems:
        status = max(status, 2)
    if scripted is not None and scripted.interrupted and status < 128:
        status = 128 + (signum or 2)
    return status


def _output_path(args: argparse.Namespace) -> str | None:
    """Where ``-o`` writes, as the run will reach it: under ``-d`` (``-`` as it is)."""
    if args.output in (None, "-"):
        return args.output
    return os.path.join(args.dest or ".", args.output)


def _not_over_the_lists(args: argparse.Namespace) -> None:
    """Refuse an output that is a file this run reads (the ``-i`` and ``-M`` lists, cookies, netrc,
    the config file): ``--json urls.txt`` beside ``-i urls.txt`` replaced the user's list with the
    report, without a word. (``--save-failed`` over the ``-i`` list is the way to retry what failed,
    and is left alone.)"""
    read = (
        args.input,
        *(args.metalink or ()),
        args.load_cookies,
        args.netrc_file,
        getattr(args, "config", None),
    )
    lists = [path for path in read if path not in (None, "-") and isinstance(path, str)]
    output = _output_path(args)
    # (--save-failed over the -i list is the way to retry what failed: that one is left alone)
    saved = args.save_failed
    for option, path, where in (
        ("--json", args.json, args.json), ("--events", args.events, args.events), ("-o", args.output, output),
        ("--save-failed", saved, saved),
    ):  # fmt: skip
        if path in (None, "-"):
            continue
        for listed in lists:
            if option == "--save-failed" and listed == args.input:
                continue
            try:
                same = os.path.samefile(str(where), listed)
            except OSError:  # (one of them is not there yet: not the same file)
                continue
            if same:
                raise UsageError(f"{option} {path} is a file this run reads ({listed}): name another file")


def _one_output(output: str, sources: list, dest: str) -> tuple[list, str]:
    """``-o FILE``: the one source given, saved as FILE (under -d); ``-o -``: streamed to stdout."""
    from aiotulip.download.sources import Entry, UrlList

    if isinstance(sources, UrlList):  # (-i FILE alone: a plain list, read lazily as Jobs)
        sources = sources.entries()
    if not sources:
        return [], dest  # (an empty list: nothing to do, as without -o)
    if len(sources) != 1:
        raise UsageError(f"-o names one file, and {len(sources)} URLs were given (for several: -d DEST)")
    (source,) = sources
    entry = source if isinstance(source, Entry) else Entry(url=source)
    if output == "-":
        return [entry], "-"
    from aiotulip.shared.output import writes_through

    where = os.path.join(dest, output)
    if writes_through(where):  # a device (/dev/null), a FIFO, a socket: written through, as -o -
        return [entry], where
    folder, _, name = output.rpartition("/")
    if not name or name in (".", ".."):
        raise UsageError(f"-o {output}: name a file, not a folder")
    from aiotulip.shared.output import check_links

    check_links(where, "-o", output)  # (a stranger's link anywhere on the way: refused)
    if os.path.islink(where):  # the file it leads to is replaced (as curl -o and wget -O write through)
        folder, slash, name = _through_link(where, output).rpartition("/")
        return [dataclasses.replace(entry, out=name)], folder or slash or "."
    return [dataclasses.replace(entry, out=name)], os.path.join(dest, folder) if folder else dest


def _through_link(link: str, output: str) -> str:
    """The file the symlink ``-o`` names leads to (it may not exist yet; ``check_links`` has found
    no stranger's link on the way)."""
    try:
        target = os.path.realpath(link, strict=True)
    except FileNotFoundError:
        target = os.path.realpath(link)  # (dangling: the file is made where it leads, as curl makes it)
    except OSError as exc:
        why = os.strerror(exc.errno or 0).lower()
        raise UsageError(f"-o {output}: {why} (a symlink that leads nowhere)") from None
    if not os.path.isabs(link):  # said as the user would: relative, unless it leads out of here
        relative = os.path.relpath(target)
        if relative != ".." and not relative.startswith("../"):
            return relative
    return target


def _named_output(sources: list, dest: str, options: FetchOptions) -> FetchOptions:
    """``-o FILE`` where a file is already, not tulip's download of this URL: the user named the
    file, so it is replaced (as curl -o and wget -O replace it), not saved beside as FILE.1. This
    URL's own complete file is still taken as done, and a part of it resumed."""
    from aiotulip.download.sources import make_jobs
    from aiotulip.download.store import record

    (job,) = make_jobs(sources, options.naming(), options.on_collision)
    path = os.path.join(dest, job.name)
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return options  # nothing there yet
    if stat.S_ISDIR(info.st_mode):
        where = os.path.normpath(path)
        raise UsageError(f"-o {where}: is a folder (to save into a folder: -d {where})")
    if not stat.S_ISREG(info.st_mode) or record.vouched(path, info, job.url) or options.no_clobber:
        return options
    if not os.access(path, os.W_OK):  # (as curl -o and wget -O refuse it)
        raise UsageError(f"-o {os.path.normpath(path)}: the file there is read-only")
    return options.replace(replace_strangers=True)


def _one_line(report: Report, hint: bool = True) -> str:
    """A run of one file ends with one line: where it went (or why not), how much, how long."""
    from aiotulip.shared.units import format_bytes

    (item,) = report.items
    took = f"{report.wall:.2f} s"
    if item.status == "ok":
        where = "to standard output" if item.path == "-" else os.path.normpath(item.path)
        return f"saved {where} ({format_bytes(item.bytes)} in {took})"
    if item.status == "skipped":
        why = item.reason or "already complete"
        # (tulip's own complete file is not asked about again: say how to ask, as wget's -N does)
        said = "; -N fetches it again if the server's copy is newer" if hint and not item.reason else ""
        return f"skipped {os.path.normpath(item.path)} ({why}; {format_bytes(item.bytes)}{said})"
    attempts = f"{item.attempts} attempt{'s' if item.attempts != 1 else ''}"
    return f"{item.status.replace('_', ' ')}: {item.url} — {item.error} ({attempts}, {took})"


def _readable(path: str | None, option: str) -> str | None:
    if path is not None and not os.access(path, os.R_OK):
        raise UsageError(f"{option} {path}: cannot read it")
    if path is not None and os.path.isdir(path):  # (libcurl would read a folder as an empty file)
        raise UsageError(f"{option} {path}: a folder, not a file")
    return path
