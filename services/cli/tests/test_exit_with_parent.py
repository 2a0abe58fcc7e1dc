"""A child started with ``exit_with_parent`` ends when its parent is killed outright; one
started without it lives on (what `preflog up`'s gateway did once, holding the port)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import subprocess, sys, time
from preflog_settings.local import exit_with_parent
armed = subprocess.Popen(["sleep", "60"], preexec_fn=exit_with_parent())
plain = subprocess.Popen(["sleep", "60"])
print(armed.pid, plain.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel request is Linux's")
def test_the_child_ends_with_a_killed_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    armed, plain = (int(x) for x in parent.stdout.readline().split())
    try:
        assert _alive(armed) and _alive(plain)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(armed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(armed)
        assert _alive(plain)
    finally:
        for pid in (armed, plain):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
