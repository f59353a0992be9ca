"""The body of a 404 for a request no stub matched: which stub came closest, and where it differs
(WireMock's near miss, in plain text). No I/O."""

from __future__ import annotations

from aiotulip.serve.stubs.match import Incoming
from aiotulip.serve.stubs.model import Stub

__all__ = ["report"]

_WIDTH = 60


def report(incoming: Incoming, nearest: list[tuple[float, Stub]]) -> str:
    """Return the text that says *incoming* matched no stub, and how the closest one differs."""
    lines = ["Request was not matched", "=======================", ""]
    if not nearest:
        lines.append("There are no stubs (POST one to /__admin/mappings, or start with --mappings DIR).")
        lines.append(f"Request: {incoming.method} {incoming.url}")
        return "\n".join(lines) + "\n"
    distance, stub = nearest[0]
    name = stub.source.get("name") or stub.id
    lines.append(f"Closest stub: {name} (distance {distance:.3f})")
    lines.append("")
    lines.append(f"{'Closest stub':<{_WIDTH}} | Request")
    lines.append("-" * (2 * _WIDTH + 3))
    for verdict, _ in stub.request.verdicts(incoming):
        mark = "" if verdict.distance == 0 else f"   <<<<< {verdict.part} does not match"
        expected = (
            f"{verdict.part}: {verdict.expected}"
            if verdict.part not in ("method", "URL")
            else verdict.expected
        )
        actual = (
            f"{verdict.part}: {verdict.actual}" if verdict.part not in ("method", "URL") else verdict.actual
        )
        lines.append(f"{_cut(expected):<{_WIDTH}} | {_cut(actual)}{mark}")
    if stub.scenario is not None and stub.required_state is not None:
        lines.append(f"{_cut(f'scenario {stub.scenario}: state {stub.required_state}'):<{_WIDTH}} |")
    lines.append("-" * (2 * _WIDTH + 3))
    return "\n".join(lines) + "\n"


def _cut(text: str) -> str:
    # (a body that is not UTF-8 is matched as surrogate escapes, which no encoder will send)
    text = " ".join(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").split())
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"
