"""WireMock's scenarios: named state machines that stubs require and move. No I/O.

Every scenario starts in ``Started``; a stub with ``requiredScenarioState`` matches only in that
state, and one with ``newScenarioState`` moves its scenario there when it answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiotulip.serve.stubs.model import Stub

__all__ = ["STARTED", "Scenarios"]

STARTED = "Started"


class Scenarios:
    """The state of every scenario (one that was never moved is in ``Started``)."""

    def __init__(self) -> None:
        self._states: dict[str, str] = {}

    def state(self, name: str) -> str:
        return self._states.get(name, STARTED)

    def allows(self, stub: Stub) -> bool:
        """Whether *stub*'s scenario is in the state it requires (or it requires none)."""
        return (
            stub.required_state is None
            or stub.scenario is None
            or self.state(stub.scenario) == stub.required_state
        )

    def passed(self, stub: Stub) -> None:
        """*stub* answered: move its scenario on, if it says where."""
        if stub.scenario is not None and stub.new_state is not None:
            self._states[stub.scenario] = stub.new_state

    def set(self, name: str, state: str | None) -> None:
        """Put scenario *name* in *state* (None: back to ``Started``)."""
        if state is None:
            self._states.pop(name, None)
        else:
            self._states[name] = state

    def reset(self) -> None:
        self._states.clear()

    def to_json(self, stubs: Iterable[Stub]) -> list[dict[str, Any]]:
        """Return the scenarios as ``GET /__admin/scenarios`` lists them."""
        found: dict[str, dict[str, Any]] = {}
        for stub in stubs:
            if stub.scenario is None:
                continue
            entry = found.setdefault(stub.scenario, {"states": {STARTED}, "mappings": []})
            entry["states"].update(s for s in (stub.required_state, stub.new_state) if s is not None)
            entry["mappings"].append(stub.to_json())
        return [
            {
                "id": name,
                "name": name,
                "state": self.state(name),
                "possibleStates": sorted(entry["states"]),
                "mappings": entry["mappings"],
            }
            for name, entry in sorted(found.items())
        ]

    def known(self, stubs: Iterable[Stub], name: str) -> bool:
        return any(stub.scenario == name for stub in stubs)
