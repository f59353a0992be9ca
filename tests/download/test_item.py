"""The item state machine as tables: events in, steps out, no sockets and no files.

Each scenario is a list of lines ``"event -> expected step"``; the first line has no event (it is what
``begin()`` answers). Events:

    200 CL=10 ETag="v" ...   a response: status, then headers (CL is Content-Length, CR Content-Range)
    body N good|bad         body_read: the file now holds N bytes, hashing right (or wrong)
    opened N [V] [of T]     part_opened with N bytes, begun at validator V for a file of T bytes
    inspected N good|bad    the final file already there
    removed | committed | waited | timeout
    fail transport|timeout|integrity|storage [N]   the step failed; N bytes in the .part now
    clock +S                time passes (no step expected: write "clock +S ->")

Steps are written as the tests render them (see ``show``).
"""

from __future__ import annotations

import hashlib
import random
import shlex
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotulip import Job, RetryPolicy
from aiotulip.download.item import (
    Commit,
    Finish,
    HashPart,
    Inspect,
    Item,
    ItemStateError,
    OpenPart,
    Phase,
    Read,
    Recheck,
    RemovePart,
    Request,
    Rules,
    Split,
    Stat,
    Step,
    Wait,
)
from aiotulip.download.plan import Local
from aiotulip.download.segments import Changed, Failed
from aiotulip.errors import ChecksumError, FetchError, IntegrityError, StorageError, Timeout, TransportError

URL = "http://h/f.bin"
GOOD = hashlib.sha256(b"the file").hexdigest()
BAD = "f" * 64


def show(step: Step) -> str:
    match step:
        case Request(headers=headers):
            text = "GET"
            if "Range" in headers:
                text += f" from={headers['Range'].removeprefix('bytes=').rstrip('-')}"
            if "If-Range" in headers:
                text += f" if-range={headers['If-Range']}"
            return text
        case Read(into="memory"):
            return "read memory"
        case Read(part=part, validator=validator, skip=skip):
            return (
                f"read {part}" + (f" remember={validator}" if validator else "") + (" skip" if skip else "")
            )
        case Commit(name=name, exclusive=exclusive):
            # (every commit is exclusive — never over a file that appeared meanwhile — but --overwrite's)
            return "commit" + (f" {name}" if name != "f.bin" else "") + ("" if exclusive else " over")
        case Inspect():
            return "inspect"
        case RemovePart():
            return "remove part"
        case OpenPart(offset=offset):
            return f"open part {offset}"
        case Wait(restart_part=restart, error=error):
            return "wait" + (" restart" if restart else "") + (" busy" if error is None else "")
        case Recheck():
            return "recheck"
        case Finish(result=r, remove_part=remove):
            text = f"{r.status} bytes={r.bytes} attempts={r.attempts}"
            if r.resumed_from:
                text += f" resumed={r.resumed_from}"
            if r.resumed_unvalidated:
                text += " unvalidated"
            if r.error:
                text += f" error={r.error!r}"
            if r.reason:
                text += f" reason={r.reason!r}"
            return text + (" remove" if remove else "")
    raise AssertionError(step)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_item(
    *,
    size: int | None = None,
    sha: bool = False,
    final: int | None = None,
    part: int | None = None,
    retries: int = 3,
    overwrite: bool = False,
    resume_unvalidated: bool = True,
    item_timeout: float | None = None,
    small: int = 64,
    timestamping: bool = False,
    mirrors: int = 0,
    split: int = 1,
    ours: bool = False,
    mtime: float | None = None,
    no_clobber: bool = False,
) -> tuple[Item, Clock]:
    job = Job(
        URL, "f.bin", GOOD if sha else None, size, mirrors=tuple(f"http://m{n}/f.bin" for n in range(mirrors))
    )
    clock = Clock()
    rules = Rules(
        RetryPolicy(retries=retries, backoff=0.01, rng=random.Random(1)), overwrite, item_timeout, small,
        resume_unvalidated=resume_unvalidated, busy_wait=10.0, timestamping=timestamping,
        split=split, min_split=20, no_clobber=no_clobber,
    )  # fmt: skip
    return Item(job, "out/f.bin", Local(final, part, ours, mtime), rules, clock), clock


def feed(item: Item, clock: Clock, event: str) -> Step | None:
    words = shlex.split(event)
    head = words[0]
    if head.isdigit():
        headers = {}
        for word in words[1:]:
            name, _, value = word.partition("=")
            if name == "CR":
                name, value = "Content-Range", f"bytes {value}"
            name = {"CL": "Content-Length"}.get(name, name)
            headers[name] = value
        return item.response(int(head), headers)
    if head == "body":
        return item.body_read(int(words[1]), GOOD if words[2] == "good" else BAD)
    if head == "opened":
        total = int(words[words.index("of") + 1]) if "of" in words else None
        rest = words[1 : words.index("of")] if "of" in words else words[1:]
        return item.part_opened(int(rest[0]), rest[1] if len(rest) > 1 else None, None, total)
    if head == "inspected":
        return item.inspected(int(words[1]), GOOD if words[2] == "good" else BAD)
    if head == "removed":
        return item.part_removed()
    if head == "committed":
        return item.committed()
    if head == "taken":
        return item.name_taken()
    if head == "waited":
        return item.waited()
    if head == "timeout":
        return item.timed_out()
    if head == "busy":
        return item.busy()
    if head == "rechecked":
        final, part = (None if w == "-" else int(w) for w in words[1:3])
        return item.rechecked(Local(final, part))
    if head == "clock":
        clock.now += float(words[1])
        return None
    if head == "fail":
        kind = words[1]
        error: FetchError = {
            "transport": TransportError("server closed the connection", url=URL),
            "timeout": Timeout("timed out waiting for the server", url=URL),
            "integrity": IntegrityError("sha256 mismatch", url=URL),
            "storage": StorageError("no space left on device", url=URL),
        }[kind]
        return item.failed(error, int(words[2]) if len(words) > 2 else None)
    raise ValueError(event)


def run_script(item: Item, clock: Clock, script: list[str]) -> list[str]:
    """Feed every event; return the rendered steps, each beside its event like the script."""
    got = []
    for number, line in enumerate(script):
        event, _, _expected = line.rpartition("->")
        event = event.strip()
        step = item.begin() if number == 0 else feed(item, clock, event)
        got.append(f"{event} -> {show(step)}".strip() if step is not None else f"{event} ->")
    return got


def expected(script: list[str]) -> list[str]:
    rows = []
    for line in script:
        event, _, step = line.rpartition("->")
        rows.append(f"{event.strip()} -> {step.strip()}".strip())
    return rows


# -- scenarios ---------------------------------------------------------------------------------------

SCENARIOS: dict[str, tuple[dict, list[str]]] = {
    "fresh, small body of known length: read into memory": (
        {},
        [
            "-> GET",
            "200 CL=10 -> read memory",
            "body 10 good -> commit",
            "committed -> ok bytes=10 attempts=1",
        ],
    ),
    "fresh, large body: a fresh .part, its ETag remembered": (
        {},
        [
            "-> GET",
            "200 CL=100 ETag=e1 -> read open remember=e1",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "weak ETag: Last-Modified is the validator instead": (
        {},
        [
            "-> GET",
            "200 CL=100 'ETag=W/\"w\"' 'Last-Modified=Tue, 01 Jan 2030 00:00:00 GMT' "
            "-> read open remember=Tue, 01 Jan 2030 00:00:00 GMT",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "no length (chunked or until close): streamed to a .part": (
        {},
        ["-> GET", "200 -> read open", "body 5 good -> commit", "committed -> ok bytes=5 attempts=1"],
    ),
    "Content-Length that is not a number is no length": (
        {},
        ["-> GET", "200 CL=abc -> read open", "body 5 good -> commit", "committed -> ok bytes=5 attempts=1"],
    ),
    "small body cut short: retried from scratch (nothing on disk)": (
        {},
        [
            "-> GET",
            "200 CL=10 -> read memory",
            "body 4 good -> wait",
            "waited -> GET",
            "200 CL=10 -> read memory",
            "body 10 good -> commit",
            "committed -> ok bytes=10 attempts=2",
        ],
    ),
    "large body cut short: resumed from what the .part holds": (
        {},
        [
            "-> GET",
            "200 CL=100 ETag=e1 -> read open remember=e1",
            "fail transport 40 -> wait",
            "waited -> GET from=40 if-range=e1",
            "206 CR=40-99/100 CL=60 ETag=e1 -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=2",
        ],
    ),
    "resume answered with the whole file (the file changed): the .part starts over": (
        {},
        [
            "-> GET",
            "200 CL=100 ETag=e1 -> read open remember=e1",
            "fail transport 40 -> wait",
            "waited -> GET from=40 if-range=e1",
            "200 CL=120 ETag=e2 -> read restart remember=e2",
            "body 120 good -> commit",
            "committed -> ok bytes=120 attempts=2",
        ],
    ),
    "resume answered 206 with another ETag (If-Range ignored): the .part starts over, never spliced": (
        {},
        [
            "-> GET",
            '200 CL=100 ETag=\'"e1"\' -> read open remember="e1"',
            "fail transport 40 -> wait",
            'waited -> GET from=40 if-range="e1"',
            "206 CR=40-99/100 CL=60 ETag='\"e2\"' -> remove part",
            "removed -> GET",
            '200 CL=100 ETag=\'"e2"\' -> read open remember="e2"',
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=3",
        ],
    ),
    "resume by date answered 206 with another Last-Modified: the .part starts over": (
        {},
        [
            "-> GET",
            "200 CL=100 'Last-Modified=Tue, 01 Jan 2030 00:00:00 GMT' "
            "-> read open remember=Tue, 01 Jan 2030 00:00:00 GMT",
            "fail transport 40 -> wait",
            "waited -> GET from=40 if-range=Tue, 01 Jan 2030 00:00:00 GMT",
            "206 CR=40-99/100 CL=60 'Last-Modified=Wed, 02 Jan 2030 00:00:00 GMT' -> remove part",
            "removed -> GET",
            "200 CL=100 'Last-Modified=Wed, 02 Jan 2030 00:00:00 GMT' "
            "-> read open remember=Wed, 02 Jan 2030 00:00:00 GMT",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=3",
        ],
    ),
    "resume answered 206 with the same date and a new strong ETag: the date decides, continued": (
        {},
        [
            "-> GET",
            "200 CL=100 'Last-Modified=Tue, 01 Jan 2030 00:00:00 GMT' "
            "-> read open remember=Tue, 01 Jan 2030 00:00:00 GMT",
            "fail transport 40 -> wait",
            "waited -> GET from=40 if-range=Tue, 01 Jan 2030 00:00:00 GMT",
            "206 CR=40-99/100 CL=60 'Last-Modified=Tue, 01 Jan 2030 00:00:00 GMT' ETag='\"n\"' -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=2",
        ],
    ),
    "a plain GET answered 206 of unknown total (bytes 0-4999/*): no file is made of it": (
        {},
        [
            "-> GET",
            "206 CR=0-4999/* CL=5000 -> failed bytes=0 attempts=1 error='206 with an unknown total size "
            "(Content-Range: bytes 0-4999/*): nothing can tell the file is complete'",
        ],
    ),
    "206 of unknown total where the input gives the size: the size decides": (
        {"size": 100},
        [
            "-> GET",
            "206 CR=0-99/* CL=100 -> read open",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "a .part from an earlier run: opened, then the rest asked for": (
        {"part": 30},
        [
            "-> open part 30",
            "opened 30 e1 of 100 -> GET from=30 if-range=e1",
            "206 CR=30-99/100 CL=70 -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1 resumed=30",
        ],
    ),
    "a .part begun for a file of another size: the same validator, another version": (
        {"part": 30},
        [
            "-> open part 30",
            "opened 30 e1 of 100 -> GET from=30 if-range=e1",
            "206 CR=30-104/105 -> remove part",
            "removed -> GET",
        ],
    ),
    "a .part begun with no size said (chunked): nothing but the validator tells, so it starts over": (
        {"part": 30},
        [
            "-> open part 30",
            "opened 30 e1 -> GET from=30 if-range=e1",
            "206 CR=30-99/100 -> remove part",
            "removed -> GET",
        ],
    ),
    "a .part begun with no size said, and a 416 as long as it: not taken for the file": (
        {"part": 30},
        ["-> open part 30", "opened 30 e1 -> GET from=30 if-range=e1", "416 'CR=*/30' -> remove part"],
    ),
    "a .part that turned out shorter than listed: asked from what it holds": (
        {"sha": True, "part": 30},
        [
            "-> open part 30",
            "opened 20 -> GET from=20",
            "206 CR=20-99/100 -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1 resumed=20",
        ],
    ),
    "a .part the server ignores Range for: started over, nothing counted as resumed": (
        {"sha": True, "part": 30},
        [
            "-> open part 30",
            "opened 30 -> GET from=30",
            "200 CL=100 -> read restart",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "a .part that already holds the whole file: 416 for its exact size": (
        {"sha": True, "part": 100},
        [
            "-> open part 100",
            "opened 100 -> GET from=100",
            "416 'CR=*/100' -> read keep skip",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1 resumed=100",
        ],
    ),
    "a .part longer than the file now is (416): removed, the file asked for from the start": (
        {"part": 150, "sha": True},
        [
            "-> open part 150",
            "opened 150 -> GET from=150",
            "416 'CR=*/100' -> remove part",
            "removed -> GET",
            "200 CL=100 -> read open",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=2",
        ],
    ),
    "a 416 that calls a short .part complete, against the size the job knows: not believed": (
        {"part": 10, "size": 100},
        ["-> open part 10", "opened 10 -> GET from=10", "416 'CR=*/10' -> remove part", "removed -> GET"],
    ),
    "a 416 to a request from the start is a plain failure": (
        {},
        ["-> GET", "416 -> failed bytes=0 attempts=1 error='HTTP 416'"],
    ),
    "a .part nothing vouches for (no validator, size or checksum): removed, started over": (
        {"part": 30},
        [
            "-> open part 30",
            "opened 30 -> remove part",
            "removed -> GET",
            "200 CL=100 -> read open",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "a .part only the size vouches for: resumed, and reported unvalidated": (
        {"part": 30, "size": 100},
        [
            "-> open part 30",
            "opened 30 -> GET from=30",
            "206 CR=30-99/100 -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1 resumed=30 unvalidated",
        ],
    ),
    "--no-resume-unvalidated: such a .part is started over": (
        {"part": 30, "size": 100, "resume_unvalidated": False},
        ["-> open part 30", "opened 30 -> remove part", "removed -> GET"],
    ),
    "a validator vouches: resumed, not reported": (
        {"part": 30},
        [
            "-> open part 30",
            "opened 30 v1 of 100 -> GET from=30 if-range=v1",
            "206 CR=30-99/100 -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1 resumed=30",
        ],
    ),
    "another run holds the part: wait for it, then take what it left": (
        {"part": 30, "sha": True, "size": 100},
        [
            "-> open part 30",
            "busy -> wait busy",
            "waited -> recheck",
            "rechecked 100 - -> inspect",
            "inspected 100 good -> skipped bytes=100 attempts=0",
        ],
    ),
    "another run held the part and left it unfinished: continue it": (
        {"part": 30, "sha": True},
        [
            "-> open part 30",
            "busy -> wait busy",
            "waited -> recheck",
            "rechecked - 60 -> open part 60",
            "opened 60 -> GET from=60",
        ],
    ),
    "another run holds a fresh part we wanted: the request counts, the wait does not": (
        {},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "busy -> wait busy",
            "waited -> recheck",
            "rechecked - - -> GET",
            "200 CL=100 -> read open",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=2",
        ],
    ),
    "waiting for another run has a limit": (
        {"part": 30},
        [
            "-> open part 30",
            "busy -> wait busy",
            "clock +11 ->",
            "busy -> failed bytes=0 attempts=0 error='another tulip run is downloading this file "
            "(waited 11 s)'",
        ],
    ),
    # A range answered wrongly: the part's bytes cannot be trusted to go on from; the next attempt
    # asks for the whole file (retried as it was, the same wrong answer came six times, every run).
    "a 206 that starts elsewhere: the part started over, the whole file asked for": (
        {"sha": True, "part": 30, "retries": 1},
        [
            "-> open part 30",
            "opened 30 -> GET from=30",
            "206 CR=10-99/100 -> wait restart",
            "waited -> GET",
            "200 CL=100 -> read keep",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=2",
        ],
    ),
    "a 206 of the whole file to a resume is read as the whole file": (
        {"sha": True, "part": 30},
        [
            "-> open part 30",
            "opened 30 -> GET from=30",
            "206 CR=0-99/100 -> read restart",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "206 without Content-Range": (
        {"sha": True, "part": 30, "retries": 0},
        [
            "-> open part 30",
            "opened 30 -> GET from=30",
            "206 -> failed bytes=0 attempts=1 error='206 without a usable Content-Range' remove",
        ],
    ),
    "206 whose Content-Length disagrees with its range": (
        {"sha": True, "part": 30, "retries": 0},
        [
            "-> open part 30",
            "opened 30 -> GET from=30",
            "206 CR=30-99/100 CL=5 -> "
            "failed bytes=0 attempts=1 error='Content-Length disagrees with Content-Range' remove",
        ],
    ),
    "an empty .part is not resumed: removed, then a fresh download": (
        {"part": 0},
        [
            "-> remove part",
            "removed -> GET",
            "200 CL=10 -> read memory",
            "body 10 good -> commit",
            "committed -> ok bytes=10 attempts=1",
        ],
    ),
    "a .part longer than the known size is removed": (
        {"part": 200, "size": 100},
        ["-> remove part", "removed -> GET"],
    ),
    "tulip's own finished file (its record holds) is complete: hashed for the Report, no request": (
        {"final": 5, "ours": True},
        ["-> inspect", "inspected 5 bad -> skipped bytes=5 attempts=0"],
    ),
    "a stranger's file nothing vouches for is never taken for done, nor written over": (
        {"final": 5},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "body 100 good -> commit",
            "taken -> commit f.1.bin",
            "taken -> commit f.2.bin",
            "committed -> ok bytes=100 attempts=1"
            " reason='f.bin was there, not from this URL: kept, and this saved beside it'",
        ],
    ),
    "a stranger's file of the server's size and date is its copy (wget, curl -R): not read again": (
        {"final": 100, "mtime": 1893456000.0},
        [
            "-> GET",
            "200 CL=100 'Last-Modified=Tue, 01 Jan 2030 00:00:00 GMT' -> inspect",
            "inspected 100 bad -> skipped bytes=100 attempts=1"
            ' reason="the same size and date as the server\'s copy"',
        ],
    ),
    "a stranger's file of another date: downloaded beside it": (
        {"final": 100, "mtime": 1893456000.0},
        [
            "-> GET",
            "200 CL=100 'Last-Modified=Wed, 02 Jan 2030 00:00:00 GMT'"
            " -> read open remember=Wed, 02 Jan 2030 00:00:00 GMT",
            "body 100 good -> commit",
        ],
    ),
    "--no-clobber: whatever is there is kept and taken as done": (
        {"final": 5, "no_clobber": True},
        ["-> inspect", "inspected 5 bad -> skipped bytes=5 attempts=0"],
    ),
    "--no-clobber, a file the input's checksum refutes: failed, and kept": (
        {"final": 100, "size": 100, "sha": True, "no_clobber": True},
        [
            "-> inspect",
            "inspected 100 bad -> failed bytes=0 attempts=0"
            " error='f.bin is there and is not the file the input describes (--no-clobber keeps it)'",
        ],
    ),
    "tulip's own file the input's checksum refutes: replaced": (
        {"final": 100, "size": 100, "sha": True, "ours": True},
        [
            "-> inspect",
            "inspected 100 bad -> remove part",
            "removed -> GET",
            "200 CL=100 -> read open",
            "body 100 good -> commit",
        ],
    ),
    "a complete final file that hashes right: skipped, no request": (
        {"final": 100, "size": 100, "sha": True},
        ["-> inspect", "inspected 100 good -> skipped bytes=100 attempts=0"],
    ),
    "a stranger's file with the wrong hash: downloaded again, beside it": (
        {"final": 100, "size": 100, "sha": True},
        [
            "-> inspect",
            "inspected 100 bad -> remove part",
            "removed -> GET",
            "200 CL=100 -> read open",
            "body 100 good -> commit",
            "committed -> ok bytes=100 attempts=1",
        ],
    ),
    "a final file of the wrong size is not even hashed": (
        {"final": 99, "size": 100},
        ["-> GET"],
    ),
    "overwrite: the final file is not looked at": (
        {"final": 100, "overwrite": True},
        ["-> GET"],
    ),
    "overwrite with a .part: the .part goes first": (
        {"part": 50, "overwrite": True},
        ["-> remove part", "removed -> GET"],
    ),
    "404 and 410 are not_found at once": (
        {},
        ["-> GET", "404 -> not_found bytes=0 attempts=1 error='HTTP 404'"],
    ),
    "410": ({}, ["-> GET", "410 -> not_found bytes=0 attempts=1 error='HTTP 410'"]),
    "403 fails at once": ({}, ["-> GET", "403 -> failed bytes=0 attempts=1 error='HTTP 403'"]),
    "503 then ok": (
        {},
        [
            "-> GET",
            "503 -> wait",
            "waited -> GET",
            "200 CL=1 -> read memory",
            "body 1 good -> commit",
            "committed -> ok bytes=1 attempts=2",
        ],
    ),
    "429 with a Retry-After past the ceiling gives up": (
        {},
        ["-> GET", "429 Retry-After=100000 -> failed bytes=0 attempts=1 error='HTTP 429'"],
    ),
    "retries run out": (
        {"retries": 2},
        [
            "-> GET",
            "500 -> wait",
            "waited -> GET",
            "502 -> wait",
            "waited -> GET",
            "504 -> failed bytes=0 attempts=3 error='HTTP 504'",
        ],
    ),
    "the server's size differs from the manifest's": (
        {"size": 100, "retries": 0},
        ["-> GET", "200 CL=99 -> failed bytes=0 attempts=1 error='server has 99 bytes, expected 100'"],
    ),
    "a checksum mismatch in memory: retried, nothing on disk to remove": (
        {"sha": True, "retries": 1},
        [
            "-> GET",
            "200 CL=8 -> read memory",
            "body 8 bad -> wait",
            "waited -> GET",
            "200 CL=8 -> read memory",
            "body 8 bad -> failed bytes=0 attempts=2 "
            "error='sha256 mismatch: got ffffffffffffffff…, expected " + GOOD[:16] + "…'",
        ],
    ),
    "a checksum mismatch in a .part: emptied before the retry, removed when giving up": (
        {"sha": True, "retries": 1},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "body 100 bad -> wait restart",
            "waited -> GET",
            "200 CL=100 -> read keep",
            "body 100 bad -> failed bytes=0 attempts=2 "
            "error='sha256 mismatch: got ffffffffffffffff…, expected " + GOOD[:16] + "…' remove",
        ],
    ),
    "more bytes than announced is an integrity error": (
        {"retries": 0},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "body 101 good -> failed bytes=0 attempts=1 error='received 101 bytes, expected 100' remove",
        ],
    ),
    "a failure with an empty .part removes it": (
        {"retries": 0},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "fail transport 0 -> failed bytes=0 attempts=1 error='server closed the connection' remove",
        ],
    ),
    "a failure with bytes in the .part keeps it for the next run": (
        {"retries": 0},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "fail transport 60 -> failed bytes=0 attempts=1 error='server closed the connection'",
        ],
    ),
    "a disk error is not retried": (
        {},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "fail storage 0 -> failed bytes=0 attempts=1 error='no space left on device' remove",
        ],
    ),
    "a commit that fails is a failure, not a retry": (
        {},
        [
            "-> GET",
            "200 CL=10 -> read memory",
            "body 10 good -> commit",
            "fail storage -> failed bytes=0 attempts=1 error='no space left on device'",
        ],
    ),
    "the item deadline stops retries": (
        {"item_timeout": 5.0},
        [
            "-> GET",
            "clock +6 ->",
            "fail timeout -> failed bytes=0 attempts=1 error='timed out waiting for the server'",
        ],
    ),
    "the item deadline passing mid-body": (
        {"item_timeout": 5.0},
        [
            "-> GET",
            "200 CL=100 -> read open",
            "clock +6 ->",
            "timeout -> failed bytes=0 attempts=1 error='item took longer than its total timeout' remove",
        ],
    ),
    "a timeout within the deadline is retried": (
        {"item_timeout": 50.0},
        ["-> GET", "fail timeout -> wait", "waited -> GET"],
    ),
    "a part resumed after a retry keeps the validator it began with": (
        {"part": 30},
        [
            "-> open part 30",
            "opened 30 e1 -> GET from=30 if-range=e1",
            "fail transport 45 -> wait",
            "waited -> GET from=45 if-range=e1",
        ],
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str) -> None:
    params, script = SCENARIOS[name]
    item, clock = make_item(**params)
    assert run_script(item, clock, script) == expected(script)


# Every status a server may send to a fresh request, by what it must lead to.
FINAL_FAILURES = [400, 401, 402, 403, 405, 406, 409, 411, 412, 413, 414, 415, 417, 418, 421, 422,
                  426, 431, 451, 300, 301, 302, 303, 304, 305, 307, 308, 100, 101, 103, 201, 202, 203,
                  205, 501, 505, 507, 508, 510, 511, 520, 599]  # fmt: skip
RETRIED = [408, 425, 429, 500, 502, 503, 504]  # curl's --retry set (and 425 Too Early)


@pytest.mark.parametrize("status", FINAL_FAILURES)
def test_statuses_that_fail_at_once(status: int) -> None:
    item, _clock = make_item(retries=5)
    assert show(item.begin()) == "GET"
    assert show(item.response(status, {})) == f"failed bytes=0 attempts=1 error='HTTP {status}'"


def test_407_is_the_proxy_asking_for_credentials() -> None:
    from aiotulip.download.http.policy import HttpPolicy
    from aiotulip.download.http.proxies import Routes

    job = Job(URL, "f.bin")
    proxied = Rules(RetryPolicy(retries=5), http=HttpPolicy(routes=Routes(proxy="http://p:3128")))
    item = Item(job, "out/f.bin", Local(), proxied, Clock())
    assert isinstance(item.begin(), Request)
    step = item.response(407, {})
    assert isinstance(step, Finish) and step.result.error_kind == "proxy"
    assert "proxy p:3128 needs credentials" in (step.result.error or "")
    given = Rules(RetryPolicy(retries=5), http=HttpPolicy(routes=Routes(proxy="http://u:wrong@p:3128")))
    item = Item(job, "out/f.bin", Local(), given, Clock())
    item.begin()
    step = item.response(407, {})
    assert isinstance(step, Finish) and "refused the credentials given" in (step.result.error or "")
    assert "wrong" not in (step.result.error or "")
    direct, _clock = make_item(retries=5)  # no proxy: a 407 from the origin is just a status
    direct.begin()
    step = direct.response(407, {})
    assert isinstance(step, Finish) and (step.result.error, step.result.error_kind) == ("HTTP 407", "http")


@pytest.mark.parametrize("status", RETRIED)
def test_statuses_that_are_retried(status: int) -> None:
    item, _clock = make_item(retries=5)
    item.begin()
    step = item.response(status, {"Retry-After": "0"})
    assert isinstance(step, Wait) and step.seconds < 1
    assert show(item.waited()) == "GET"


@pytest.mark.parametrize("status", [404, 410])
@pytest.mark.parametrize("part", [None, 40])
def test_not_found_with_and_without_a_part(status: int, part: int | None) -> None:
    item, _clock = make_item(part=part)
    item.begin()
    if part:
        item.part_opened(part, "v")
    assert show(item.response(status, {})) == f"not_found bytes=0 attempts=1 error='HTTP {status}'"


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
@pytest.mark.parametrize("known", [True, False])
def test_memory_or_part_by_size(size: int, known: bool) -> None:
    item, _clock = make_item(size=size if known else None, small=64)
    item.begin()
    step = item.response(200, {"Content-Length": str(size)})
    assert show(step) == ("read memory" if size <= 64 else "read open")


@pytest.mark.parametrize("retries", range(0, 6))
def test_attempts_count_every_try_and_nothing_else(retries: int) -> None:
    item, _clock = make_item(retries=retries)
    step = item.begin()
    for _ in range(retries):
        step = item.response(503, {"Retry-After": "0"})
        assert isinstance(step, Wait)
        step = item.waited()
    step = item.response(503, {})
    assert isinstance(step, Finish) and step.result.attempts == retries + 1


def test_elapsed_comes_from_the_clock() -> None:
    item, clock = make_item()
    item.begin()
    clock.now += 2.5
    step = item.response(404, {})
    assert isinstance(step, Finish) and step.result.elapsed == 2.5


def test_misuse_is_caught() -> None:
    """An event in a phase that does not allow it is an engine's bug: it raises at once."""
    item, _clock = make_item()
    with pytest.raises(ItemStateError, match=r"response\(\) while the item is in phase 'start'"):
        item.response(200, {})  # before begin()
    item.begin()
    assert item.phase is Phase.REQUEST
    with pytest.raises(ItemStateError):
        item.committed()  # nothing verified yet
    with pytest.raises(ItemStateError):
        item.body_read(1, GOOD)  # no response yet
    with pytest.raises(ItemStateError):
        item.waited()  # no wait was asked for
    step = item.response(404, {})
    assert isinstance(step, Finish) and item.phase is Phase.DONE
    for late in (item.begin, lambda: item.failed(TransportError("late", url=URL)), item.waited):
        with pytest.raises(ItemStateError):
            late()  # nothing happens to a finished item


def test_every_event_has_its_phases_and_every_step_its_phase() -> None:
    from aiotulip.download.item import state, steps

    events = {name for name in dir(Item) if not name.startswith("_") and callable(getattr(Item, name))}
    assert events == set(state.EVENTS), "an event of Item without its row in the table (or the reverse)"
    kinds = {value for value in vars(steps).values() if isinstance(value, type) and issubclass(value, Step)}
    assert kinds - {Step} == set(state.PHASE_AFTER)


def test_attempts_are_a_value_that_counts_what_went_out() -> None:
    from aiotulip.download.retry import Attempts

    first = Attempts(deadline=10.0)
    second = first.sent().failed(Timeout("slow", url=URL)).sent()
    assert (first.made, second.made, second.history) == (0, 2, ("timeout",))
    assert second.remaining(4.0) == 6.0 and second.expired(10.0) and not second.expired(9.9)
    policy = RetryPolicy(retries=1, backoff=0.01, rng=random.Random(1))
    assert first.sent().next_wait(policy, Timeout("x", url=URL), 0.0) is not None
    assert second.next_wait(policy, Timeout("x", url=URL), 0.0) is None  # retries spent: the one decision
    assert first.sent().next_wait(policy, Timeout("x", url=URL), 10.0) is None  # the deadline passed


# -- the property: no bytes reach the final name unverified ----------------------------------------------

SIZES = st.sampled_from([0, 10, 40, 60, 99, 100, 101, 150]) | st.integers(0, 200)
RESPONSES = st.tuples(
    st.sampled_from([200, 200, 206, 206, 416, 404, 500, 503, 304]),
    st.sampled_from([None, 10, 60, 100, 100, 150]),
    st.sampled_from([None, 0, 40, 100]),
)
BODIES = st.tuples(st.sampled_from(["exact", "exact", "exact", "short", "long"]) | SIZES, st.booleans())
FAILURES = st.tuples(st.sampled_from(["transport", "transport", "integrity", "checksum", "storage"]), SIZES)


class World:
    """Answers an Item's steps the way a hostile network and disk might: from *draw*, one answer per
    step, each of the kind that step can get."""

    def __init__(self, draw: Callable[[st.SearchStrategy], object]) -> None:
        self.draw = draw

    def response(self) -> tuple | None:
        return None if self.draw(st.integers(0, 9)) == 0 else self.draw(RESPONSES)  # type: ignore[return-value]

    def body(self) -> tuple:
        if self.draw(st.integers(0, 5)) == 0:
            return ("fail", *self.draw(FAILURES))  # type: ignore[misc]
        return ("body", *self.draw(BODIES))  # type: ignore[misc]

    def time_passes(self) -> float:
        return self.draw(st.sampled_from([0.0, 0.0, 0.0, 1.0, 30.0]))  # type: ignore[return-value]

    def split_outcome(self) -> tuple[str, int, int]:
        """How a split download's connections ended: complete, the file changed, or a span failed;
        with how many span requests failed on the way and the bytes the .part holds."""
        return self.draw(st.tuples(st.sampled_from(["complete", "complete", "changed", "failed"]),
                                   st.integers(0, 3), SIZES))  # type: ignore[return-value]  # fmt: skip

    def kept(self) -> tuple[float | None, str | None]:
        """What a complete file there says of itself (-N): its mtime and kept ETag."""
        return self.draw(st.sampled_from([(None, None), (1.0e9, None), (1.0e9, '"e"')]))  # type: ignore[return-value]


def drive(
    world: World,
    size: int | None,
    sha: bool,
    part: int | None,
    final: int | None,
    *,
    timestamping: bool = False,
    mirrors: int = 0,
    split: int = 1,
) -> int:
    """Drive an Item with the world's answers and check every Commit; return how many there were."""
    item, clock = make_item(
        size=size, sha=sha, part=part, final=final, retries=6, item_timeout=60.0,
        timestamping=timestamping, mirrors=mirrors, split=split,
    )  # fmt: skip
    step = item.begin()
    last_body: tuple[int, str] | None = None
    announced = 100  # the file's size as the last response told it
    commits = 0
    for _ in range(200):
        clock.now += world.time_passes()
        match step:
            case Finish(result=result):
                if result.status == "ok":
                    assert last_body is not None
                    assert result.bytes == last_body[0] and result.sha256 == last_body[1]
                assert item.phase is Phase.DONE
                return commits
            case Commit():
                assert last_body is not None
                n, digest = last_body
                assert not sha or digest == GOOD
                assert size is None or n == size
                commits += 1
                step = item.committed()
            case Inspect():
                step = item.inspected(final or 0, GOOD)
            case Stat():
                step = item.stat_final(*world.kept())
            case RemovePart():
                step = item.part_removed()
            case OpenPart(offset=offset):
                step = item.part_opened(offset, None)
            case Wait():
                step = item.waited()
            case Split():
                how, retries, held = world.split_outcome()
                outcome = {
                    "complete": None,
                    "changed": Changed("the file changed"),
                    "failed": Failed(TransportError("reset", url=URL)),
                }[how]
                step = item.split_ended(outcome, retries, held)
            case HashPart():
                kind, what, extra = world.body()
                if kind == "fail":
                    step = item.failed(StorageError("x", url=URL), extra)
                    continue
                n = {"exact": announced, "short": announced // 2, "long": announced + 1}.get(what, what)
                last_body = (n, GOOD if extra else BAD)
                step = item.body_read(*last_body)
            case Request():
                answer = world.response()
                if answer is None:
                    step = item.failed(TransportError("reset", url=URL))
                    continue
                status, total, first = answer
                announced = total or 100
                headers = {}
                if status == 206 and first is not None:
                    end = max(first, announced - 1)
                    headers["Content-Range"] = f"bytes {first}-{end}/{total or '*'}"
                    headers["Content-Length"] = str(end - first + 1)
                elif status == 416:
                    headers["Content-Range"] = f"bytes */{announced}"
                elif total is not None:
                    headers["Content-Length"] = str(total)
                step = item.response(status, headers)
            case Read():
                kind, what, extra = world.body()
                if kind == "fail":
                    error = {
                        "transport": TransportError,
                        "integrity": IntegrityError,
                        "checksum": ChecksumError,
                        "storage": StorageError,
                    }
                    step = item.failed(error[what]("x", url=URL), extra)
                    continue
                n = {"exact": announced, "short": announced // 2, "long": announced + 1}.get(what, what)
                last_body = (n, GOOD if extra else BAD)
                step = item.body_read(*last_body)
            case _:
                raise AssertionError(step)
    raise AssertionError("the item never finished")


@settings(max_examples=500, deadline=None)
@given(
    data=st.data(),
    size=st.sampled_from([None, 100]),
    sha=st.booleans(),
    part=st.sampled_from([None, 0, 40, 100, 150]),
    final=st.sampled_from([None, 100, 99]),
    timestamping=st.booleans(),
    mirrors=st.sampled_from([0, 0, 2]),
    split=st.sampled_from([1, 1, 4]),
)
def test_never_commits_bytes_that_were_not_verified(
    data: st.DataObject, size: int | None, sha: bool, part: int | None, final: int | None,
    timestamping: bool, mirrors: int, split: int,
) -> None:  # fmt: skip
    """Whatever a hostile world answers — in one stream or split, from one URL or mirrors, asking
    again under -N — whenever the Item says Commit, the bytes it was last told about are the file
    (size and sha256 as the job says), and an ok Result reports exactly them."""
    drive(World(data.draw), size, sha, part, final, timestamping=timestamping, mirrors=mirrors, split=split)


class Scripted(World):
    def __init__(self, answers: list) -> None:
        self.answers = list(answers)

    def response(self) -> tuple | None:
        return self.answers.pop(0)

    def body(self) -> tuple:
        return self.answers.pop(0)

    def time_passes(self) -> float:
        return 0.0

    def split_outcome(self) -> tuple[str, int, int]:
        return self.answers.pop(0)  # type: ignore[no-any-return]

    def kept(self) -> tuple[float | None, str | None]:
        return self.answers.pop(0)  # type: ignore[no-any-return]


def test_the_property_reaches_commits() -> None:
    """The driver above is not vacuous: commits happen, after failures, wrong bytes and restarts."""
    assert drive(Scripted([(200, 100, None), ("body", "exact", True)]), 100, True, None, None) == 1
    story = [(503, None, None), (200, 100, None), ("body", 40, True), (206, 100, 40),
             ("fail", "transport", 60), (206, 100, 60), ("body", 100, False), (200, 100, None),
             ("body", "exact", True)]  # fmt: skip
    assert drive(Scripted(story), None, True, None, None) == 1
    assert drive(Scripted([(200, 100, None), ("body", 100, False)] * 7), 100, True, None, None) == 0
    # Split: the probe's 206 proves ranges, the connections end, the whole part is hashed.
    story = [(206, 100, 0), ("complete", 0, 100), ("body", "exact", True)]
    assert drive(Scripted(story), None, True, None, None, split=4) == 1
    story = [(206, 100, 0), ("changed", 1, 60), (200, 100, None), ("body", "exact", True)]
    assert drive(Scripted(story), None, True, None, None, split=4) == 1  # changed: one stream after
    # -N: a complete file asked for again; a 304 leaves it, a 200 replaces it.
    assert (
        drive(Scripted([(1.0e9, '"e"'), (304, None, None)]), None, False, None, 100, timestamping=True) == 0
    )
    story = [(1.0e9, None), (200, 100, None), ("body", "exact", True)]
    assert drive(Scripted(story), None, False, None, 100, timestamping=True) == 1
    # Mirrors: a checksum failure, then the next URL.
    story = [(200, 100, None), ("fail", "checksum", 100), (200, 100, None), ("body", "exact", True)]
    assert drive(Scripted(story), 100, True, None, None, mirrors=2) == 1


def test_timestamping_asks_plainly_about_a_file_tulip_did_not_write() -> None:
    """-N and anybody else's file: its date says nothing of its bytes (a 5-byte note newer than the
    server's 200 KB file got a 304 and was 'not modified'). No conditional: the answer's size and
    date decide, as wget's -N compares both."""
    job = Job(URL, "f.bin")
    rules = Rules(RetryPolicy(retries=0), timestamping=True)
    item = Item(job, "out/f.bin", Local(5, None, final_mtime=2.0e9), rules, Clock())
    assert isinstance(item.begin(), Stat)
    step = item.stat_final(2.0e9, None)
    assert isinstance(step, Request) and not {"If-None-Match", "If-Modified-Since"} & set(step.headers)


def test_timestamping_asks_by_etag_and_date_but_by_date_alone_when_compressed() -> None:
    """-N sends both validators; with --compressed only the date: the ETag kept is the encoded
    variant's, which a server may never match again (Apache's mod_deflate), and a failed
    If-None-Match makes it ignore the date too."""
    for decoders, expected in (
        ((), {"If-None-Match", "If-Modified-Since"}),
        (("gzip",), {"If-Modified-Since"}),
    ):
        job = Job(URL, "f.bin")
        rules = Rules(RetryPolicy(retries=0), timestamping=True, decoders=decoders)
        item = Item(job, "out/f.bin", Local(100, None, final_ours=True), rules, Clock())
        assert isinstance(item.begin(), Stat)
        step = item.stat_final(1.0e9, 'W/"e-gzip"')
        assert isinstance(step, Request) and expected <= set(step.headers)
        assert "If-None-Match" in step.headers or not {"If-None-Match"} & expected
        assert ("If-None-Match" in step.headers) == ("If-None-Match" in expected)
