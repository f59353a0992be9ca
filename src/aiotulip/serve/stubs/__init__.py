"""Stubs in WireMock's format: mapping files and the ``/__admin`` API, request matching, scenarios,
the request journal and near misses (``engine.Stubs`` holds them for a server; ``admin.handle``
answers the API)."""

from aiotulip.serve.stubs.engine import Stubs
from aiotulip.serve.stubs.model import MappingError, Stub, parse_stub

__all__ = ["MappingError", "Stub", "Stubs", "parse_stub"]
