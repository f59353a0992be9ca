"""Process limits that concurrent I/O runs into first."""

from __future__ import annotations

__all__ = ["raise_open_file_limit"]


def raise_open_file_limit(wanted: int | None = None) -> int:
    """Raise the soft limit on open files towards *wanted* (default: the hard limit); return it.

    Thousands of concurrent connections need thousands of descriptors, and the usual soft limit
    (1024) is far below the hard one. Raising the soft limit needs no privilege.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None else wanted
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft
