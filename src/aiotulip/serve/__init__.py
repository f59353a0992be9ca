"""tulip serve: an asyncio HTTP file server with seeded, dialable faults."""

from aiotulip.serve.app import create_app
from aiotulip.serve.config import Faults, ServeConfig
from aiotulip.serve.runner import (
    RunningServer,
    ServerProcess,
    ServerThread,
    run_forever,
    serving,
    start_server,
)

__all__ = [
    "Faults",
    "RunningServer",
    "ServeConfig",
    "ServerProcess",
    "ServerThread",
    "create_app",
    "run_forever",
    "serving",
    "start_server",
]
