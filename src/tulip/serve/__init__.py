"""tulip serve: an asyncio HTTP file server with seeded, dialable faults."""

from tulip.serve.app import create_app
from tulip.serve.config import Faults, ServeConfig
from tulip.serve.runner import RunningServer, ServerProcess, run_forever, serving, start_server

__all__ = [
    "Faults",
    "RunningServer",
    "ServeConfig",
    "ServerProcess",
    "create_app",
    "run_forever",
    "serving",
    "start_server",
]
