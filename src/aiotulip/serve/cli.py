"""``tulip serve``: its arguments (the fault options named as toxiproxy's toxics where they match) and
its run."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from aiotulip.errors import UsageError
from aiotulip.shared.args import byte_count, codes, count, path, port, probability, rate, seconds, size_range

if TYPE_CHECKING:
    from aiotulip.serve import RunningServer

__all__ = ["add_arguments", "run"]


def add_arguments(serve: argparse.ArgumentParser) -> None:
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
    stubs = serve.add_argument_group("stubs (WireMock's format and admin API at /__admin)")
    stubs.add_argument(
        "--mappings", type=path, metavar="DIR",
        help="answer with the stubs of DIR/mappings/*.json (bodies in DIR/__files) before the files",
    )  # fmt: skip
    stubs.add_argument(
        "--record", type=path, metavar="DIR", help="with --upstream: write its answers as mappings to DIR"
    )
    stubs.add_argument(
        "--record-secrets", action="store_true", help="record Authorization, Cookie and Set-Cookie too"
    )
    stubs.add_argument(
        "--max-request-journal-entries", type=count, default=10_000, metavar="N",
        help="requests kept for /__admin/requests (default 10000)",
    )  # fmt: skip
    stubs.add_argument("--no-request-journal", action="store_true", help="keep none")
    stubs.add_argument(
        "--admin-allow", action="append", metavar="CIDR",
        help="clients besides loopback that may use /__admin and /_tulip (repeatable)",
    )  # fmt: skip
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
        "--corrupt-rate", type=probability, default=0.0, metavar="P",
        help="flip a few bytes of the body (its length right: only a checksum tells)",
    )  # fmt: skip
    faults.add_argument(
        "--malformed-chunk-rate", type=probability, default=0.0, metavar="P",
        help="a 200 head, then bytes that are no chunk, then a close",
    )  # fmt: skip
    faults.add_argument(
        "--garbage-rate", type=probability, default=0.0, metavar="P", help="random bytes, then a close"
    )
    faults.add_argument(
        "--empty-rate", type=probability, default=0.0, metavar="P", help="close before any byte"
    )
    faults.add_argument(
        "--slow-headers-rate", type=probability, default=0.0, metavar="P", help="dribble the head out ..."
    )
    faults.add_argument(
        "--slow-headers-time", type=seconds, default=2.0, metavar="S", help="... over S seconds (default 2)"
    )
    faults.add_argument(
        "--huge-headers-rate", type=probability, default=0.0, metavar="P", help="pad the head with ..."
    )
    faults.add_argument(
        "--huge-headers-size", type=byte_count, default=1024 * 1024, metavar="SIZE",
        help="... one header line this long (default 1M)",
    )  # fmt: skip
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


def run(args: argparse.Namespace) -> int:
    from aiotulip.serve import Faults, ServeConfig, run_forever

    if args.root is not None and (args.files is not None or args.size is not None):
        raise UsageError("--root serves a directory; --files and --size describe a synthetic corpus")
    if args.upstream is not None and (
        args.root is not None or args.files is not None or args.size is not None
    ):
        raise UsageError("--upstream serves another server's files; --root, --files and --size serve tulip's")
    # Stubs alone (no --files, --size, --root or --upstream): no synthetic files behind them.
    stubs_only = (
        args.mappings is not None and args.upstream is None and args.root is None and args.size is None
    )
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
        corrupt_rate=args.corrupt_rate,
        malformed_chunk_rate=args.malformed_chunk_rate,
        garbage_rate=args.garbage_rate,
        empty_rate=args.empty_rate,
        slow_headers_rate=args.slow_headers_rate,
        slow_headers_time=args.slow_headers_time,
        huge_headers_rate=args.huge_headers_rate,
        huge_headers_size=args.huge_headers_size,
        paths=tuple(args.fault_path or ()),
    )
    config = ServeConfig(
        host=args.host,
        port=args.port,
        files=(0 if stubs_only else 100) if args.files is None else args.files,
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
        mappings=args.mappings,
        record=args.record,
        record_secrets=args.record_secrets,
        journal=0 if args.no_request_journal else args.max_request_journal_entries,
        admin_allow=tuple(args.admin_allow or ()),
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
        if config.mappings is not None:
            print(f"tulip serve: {len(server.app.stubs.registry)} stubs from {config.mappings}"
                  f" (admin API {url}/__admin/mappings)")  # fmt: skip
        if server.ca_file is not None:
            print(
                f"tulip serve: CA certificate {server.ca_file} (tulip fetch --ca-certificate, curl --cacert)"
            )
        sys.stdout.flush()

    run_forever(config, announce)
    return 0
