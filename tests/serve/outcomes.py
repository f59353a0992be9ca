"""What a client sees of a faulty server, classified; and whether a count is within its rate."""

from __future__ import annotations

import math

import aiohttp

__all__ = ["outcome", "within"]


def within(observed: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    """Whether a binomial count is within *sigmas* standard deviations of its mean."""
    return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


async def outcome(session: aiohttp.ClientSession, url: str, timeout: float = 5.0) -> str:
    """Fetch *url* and classify what happened: "ok", an HTTP status, "short", "broken" or "timeout"."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await resp.read()
            if resp.status != 200:
                return str(resp.status)
            return "ok" if len(body) == int(resp.headers["Content-Length"]) else "short"
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientError:
        return "broken"
