"""Fault points for the crash tests: ``hit(name)`` kills this process with SIGKILL on the n-th hit of ``name`` when
``EINVD_FAULTPOINT=name:n`` is set, and does nothing otherwise.

Tests use it to stop the daemon exactly between two steps of a durable write (before or after a commit, between
writing, fsyncing and renaming a drop file) and then check that a restart finds every acknowledged record.
It lives in ``drivers`` and uses only the standard library because the drop drivers call it and must not import
the daemon (layer contract); the daemon imports it as ``daemon.faultpoints``. The variable is read once, at
import: unset, ``hit`` is one comparison.
"""

from __future__ import annotations

import os
import signal
import threading

VARIABLE = "EINVD_FAULTPOINT"


def parse(spec: str) -> tuple[str, int] | None:
    """``NAME:N`` -> (NAME, N); empty -> None; ValueError for anything else (a typo must not disarm a test)."""
    if not spec:
        return None
    name, _, count = spec.rpartition(":")
    if not name or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{VARIABLE}={spec!r}: expected NAME:N with N >= 1")
    return name, int(count)


ARMED = parse(os.environ.get(VARIABLE, ""))
_lock = threading.Lock()
_hits = 0


def hit(name: str) -> None:
    """Count a pass through fault point ``name``; on the armed count, say so on stderr and die at once."""
    if ARMED is None or name != ARMED[0]:
        return
    global _hits
    with _lock:
        _hits += 1
        if _hits == ARMED[1]:
            os.write(2, f"einvd: fault point {name} hit {_hits}: SIGKILL\n".encode())
            os.kill(os.getpid(), signal.SIGKILL)
