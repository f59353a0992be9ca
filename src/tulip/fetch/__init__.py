"""tulip fetch: a bulk downloader with three engines that give the same Report."""

from tulip.fetch.api import fetch, fetch_async
from tulip.fetch.engines import ENGINES
from tulip.fetch.models import Job, Report, Result
from tulip.fetch.retry import RetryPolicy
from tulip.fetch.sources import Entry

__all__ = ["ENGINES", "Entry", "Job", "Report", "Result", "RetryPolicy", "fetch", "fetch_async"]
