"""Where local servers are by default, and small facts about this machine's network.

Shared by ``preflog up`` (which uses a local server when one answers) and the test fixture
(which chooses its servers in the same order). Standard library only.
"""

from __future__ import annotations

import socket

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_NATS = "nats://127.0.0.1:4222"


def reachable(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections there right now."""
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
