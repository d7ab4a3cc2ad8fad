"""The local stack's console: one whole line at a time on stdout (the banner, the request log) or stderr."""

from __future__ import annotations

import sys
import threading

_print_lock = threading.Lock()


def say(line: str) -> None:
    """One line on stdout, flushed (the request log and the banner)."""
    with _print_lock:
        print(line, flush=True)


def complain(line: str) -> None:
    with _print_lock:
        print(line, file=sys.stderr, flush=True)
