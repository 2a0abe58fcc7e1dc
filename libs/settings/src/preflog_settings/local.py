"""Where local servers are by default, and small facts about this machine's network.

Shared by ``preflog up`` (which uses a local server when one answers) and the test fixture
(which chooses its servers in the same order). Standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable

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


_PR_SET_PDEATHSIG = 1


def exit_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for a child that must not outlive this process: the kernel sends it
    SIGTERM when the thread that started it ends, however that happens (SIGKILL included).
    Start the child from the main thread. None where the kernel has no such request (not
    Linux): the child is then stopped only by the parent's own shutdown.

    A parent that dies between the fork and the request cannot signal any more; the child
    sees it has been adopted and exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return arm
