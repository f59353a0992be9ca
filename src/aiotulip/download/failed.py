"""``--save-failed FILE``: what did not make it, as an input file that runs it again (aria2c's
``--save-session`` idea).

Every item that did not end ``ok`` or ``skipped`` — failed, not found, interrupted, never begun — is
written as ``sources.py`` reads it: the URL and its mirrors on one line (tab-separated), then its
options indented below (``out=`` when its name is not the one its URL gives, ``checksum=``, ``size=``,
``header=``, ``trusted=no``), so ``tulip fetch -i FILE`` asks for exactly those again.

The URLs are the ones the input gave, credentials included where the user wrote them in the URL
(the file is the user's: it is written 0600); nothing the run added — ``--user``, ``-H``, netrc,
cookies — goes in it. A URL a manifest named on another host keeps that mark (``trusted=no``), so
the second run trusts it no more than the first did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from aiotulip.download.models import Job, Result
from aiotulip.download.names import Naming

__all__ = ["ALGORITHMS", "failed_lines", "save_failed"]

#: hashlib's names -> aria2c's, for checksum= lines.
ALGORITHMS = {"sha256": "sha-256", "md5": "md5", "sha1": "sha-1", "sha512": "sha-512"}


def entry_lines(job: Job, naming: Naming) -> Iterator[str]:
    """Yield the input lines that ask for *job* again."""
    yield "\t".join((job.url, *job.mirrors))
    if job.name != naming.name(job.url):
        yield f"  out={job.name}"
    if job.sha256 is not None:
        yield f"  checksum=sha-256={job.sha256}"
    for algorithm, digest in job.checksums:
        yield f"  checksum={ALGORITHMS.get(algorithm, algorithm)}={digest}"
    if job.size is not None:
        yield f"  size={job.size}"
    for name, value in job.headers:
        yield f"  header={name}: {value}"
    if not job.given:
        yield "  trusted=no"


def failed_lines(pairs: Iterable[tuple[Job, Result]], naming: Naming) -> Iterator[str]:
    """Yield the input lines of every job whose Result is not ``ok`` or ``skipped`` (a URL asked for
    on two lines once: once)."""
    for job, result in pairs:
        if job.duplicate_of is None and result.status not in ("ok", "skipped"):
            yield from entry_lines(job, naming)


def save_failed(path: str, pairs: Iterable[tuple[Job, Result]], naming: Naming) -> int:
    """Write the failed items of *pairs* to *path* (0600; ``-`` for stdout); return how many."""
    from aiotulip.shared.output import writing

    count = 0
    with writing(path, mode=0o600) as out:
        for line in failed_lines(pairs, naming):
            count += not line.startswith(" ")
            out.write(line + "\n")
    return count
