"""One download as a state machine with no I/O (``machine.Item``), its steps, phases and rules.

steps      what an Item asks an engine to do (Request, Read, Commit, Wait, ...) and the Rules
state      the phases and which event each allows (the machine's tables)
machine    Item: events in, the next step out
routing    where requests go: URLs, credentials, redirects
mirrors    which of a file's URLs the single stream asks next
split      the steps of a split download (with ``segments``)
naming     a name from Content-Disposition
"""

from aiotulip.download.item.machine import Item
from aiotulip.download.item.state import ItemStateError, Phase
from aiotulip.download.item.steps import (
    HASH_PART,
    INSPECT,
    RECHECK,
    REMOVE_PART,
    SMALL_BODY,
    STAT,
    Commit,
    Finish,
    HashPart,
    Inspect,
    OpenPart,
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

__all__ = [
    "HASH_PART",
    "INSPECT",
    "RECHECK",
    "REMOVE_PART",
    "SMALL_BODY",
    "STAT",
    "Commit",
    "Finish",
    "HashPart",
    "Inspect",
    "Item",
    "ItemStateError",
    "OpenPart",
    "Phase",
    "Read",
    "Recheck",
    "RemovePart",
    "Request",
    "Rules",
    "Split",
    "Stat",
    "Step",
    "Wait",
]
