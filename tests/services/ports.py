"""Waiting for a test's server process to listen."""
from __future__ import annotations

import socket
import subprocess
import time


def wait_listening(port: int, proc: subprocess.Popen, timeout: float, interval: float = 0.1) -> bool:
    """True once something accepts connections on 127.0.0.1:``port``; False if ``proc`` exits or ``timeout``
    seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(interval)
    return False
