"""The standard streams at start-up: a closed one is reopened on /dev/null.

Run with `2>&-`, the process starts without file descriptor 2: Python sets sys.stderr to None (a
progress bar or a log line then crashes the run, and traceback.print_exc writes to stdout), and
the next file opened (the SQLite database) would get descriptor 2, where any stray write to
stderr would land in it.
"""

from __future__ import annotations

import os
import sys


def ensure_standard_streams() -> frozenset[int]:
    """Give descriptors 0, 1 and 2 a file (/dev/null) if they have none, and sys its streams;
    the descriptors that had none (a closed stdout loses the document: the caller says so)."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as sys.stdin
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    return frozenset(closed)
