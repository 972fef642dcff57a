"""Helpers of the code block's tests: a failure's error, and its sandbox children found through
/proc, as an operator would find them."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from solder.engine.code import CodeFailed, run_code
from solder.errors import FatalError


def fails(source: str, value: Any = None, field: str = "code", **limits: int) -> CodeFailed:
    with pytest.raises(CodeFailed) as info:
        run_code(source, value, **limits)
    assert isinstance(info.value, FatalError)
    assert info.value.field == field
    return info.value


RUNTIME = b"solder.engine.code_runtime"


def sandbox_children() -> dict[int, str]:
    """This process's live sandbox children: pid -> state (R running, S sleeping, T stopped)."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()  # after "pid (comm) "
        if int(fields[1]) == os.getpid() and RUNTIME in cmdline:
            found[int(entry)] = fields[0].decode()
    return found


def is_sandbox(pid: int) -> bool:
    """Whether ``pid`` is (still) a running sandbox process, whoever its parent is now."""
    try:
        return RUNTIME in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def in_thread(source: str, **limits: int) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``run_code`` in a thread; the list gets the exception it raised, if any."""
    raised: list[BaseException] = []

    def call() -> None:
        try:
            run_code(source, None, **limits)
        except Exception as exc:
            raised.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, raised
