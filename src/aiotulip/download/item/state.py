"""The Item's phases, and which event each phase allows: the state machine's tables.

Two rules for what may live here (after h11's ``_state.py``):

Rule 1: only the shape of the machine — which phase follows which step, which event is answered in
which phase. No decision about a download (retry, resume, names) and no I/O: those live in
``machine`` and the rule modules beside it.

Rule 2: a phase names the step an engine is carrying out for the item. An event arriving in a phase
that does not list it is a bug in an engine (a response reported while a wait was asked for, a
commit twice), never a server's doing: it raises ``ItemStateError`` at once instead of corrupting the
item's decisions.
"""

from __future__ import annotations

from aiotulip.download.item.steps import (
    Commit,
    Finish,
    HashPart,
    Inspect,
    OpenPart,
    Read,
    Recheck,
    RemovePart,
    Request,
    Split,
    Stat,
    Step,
    Wait,
)

__all__ = ["ALL", "EVENTS", "PHASE_AFTER", "ItemStateError", "Phase"]


class Phase:
    """A phase of the Item (its value is its name). Plain objects, not an Enum: they are hashed on
    every event, and an Enum's hash is Python code."""

    __slots__ = ("value",)

    START: Phase  # made, begin() not called yet
    STAT: Phase  # the final file's mtime and ETag are being read (-N)
    INSPECT: Phase  # the final file is being hashed
    REMOVE_PART: Phase
    OPEN_PART: Phase
    REQUEST: Phase  # a request is out, its answer awaited
    READ: Phase  # a body is being read (into memory or the .part)
    SPLIT: Phase  # a split download's connections are running
    HASH_PART: Phase
    COMMIT: Phase  # the file is being made final
    WAIT: Phase  # the backoff before the next attempt
    RECHECK: Phase  # the disk is looked at again (another run had the part)
    DONE: Phase  # Finish was given: nothing more may happen

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Phase.{self.value.upper().replace(' ', '_')}"


ALL = tuple(
    Phase(value) for value in (
        "start", "stat", "inspect", "remove part", "open part", "request", "read", "split", "hash part",
        "commit", "wait", "recheck", "done",
    )
)  # fmt: skip
for _phase in ALL:
    setattr(Phase, _phase.value.upper().replace(" ", "_"), _phase)


class ItemStateError(RuntimeError):
    """An event came in a phase that does not allow it (an engine's bug)."""


#: The phase an item is in once it has asked for a step of each kind.
PHASE_AFTER: dict[type[Step], Phase] = {
    Stat: Phase.STAT,
    Inspect: Phase.INSPECT,
    RemovePart: Phase.REMOVE_PART,
    OpenPart: Phase.OPEN_PART,
    Request: Phase.REQUEST,
    Read: Phase.READ,
    Split: Phase.SPLIT,
    HashPart: Phase.HASH_PART,
    Commit: Phase.COMMIT,
    Wait: Phase.WAIT,
    Recheck: Phase.RECHECK,
    Finish: Phase.DONE,
}

#: Any phase with a step in hand: a step of any kind may fail, time out or find the part busy.
_LIVE = frozenset(ALL) - {Phase.START, Phase.DONE}

#: The phases in which each event (a method of Item) may come.
EVENTS: dict[str, frozenset[Phase]] = {
    "begin": frozenset({Phase.START}),
    "stat_final": frozenset({Phase.STAT}),
    "inspected": frozenset({Phase.INSPECT}),
    "part_removed": frozenset({Phase.REMOVE_PART}),
    "part_opened": frozenset({Phase.OPEN_PART}),
    "response": frozenset({Phase.REQUEST}),
    "body_read": frozenset({Phase.READ, Phase.HASH_PART}),
    "split_ended": frozenset({Phase.SPLIT}),
    "committed": frozenset({Phase.COMMIT}),
    "name_taken": frozenset({Phase.COMMIT}),
    "waited": frozenset({Phase.WAIT}),
    "rechecked": frozenset({Phase.RECHECK}),
    "failed": _LIVE,
    "timed_out": _LIVE,
    "busy": _LIVE,
    # The run stopped: a Result in whatever phase the item was (it changes no phase; checks none).
    "interrupted": frozenset(ALL),
    # Questions asked while a step is carried out: they change no phase.
    "throttle": frozenset({Phase.READ, Phase.SPLIT}),
    "segment_request": frozenset({Phase.SPLIT}),
    "segment_response": frozenset({Phase.SPLIT}),
}
