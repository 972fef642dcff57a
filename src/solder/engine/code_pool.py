"""A small pool of child processes that run code blocks, one execution at a time each.

Why processes: quickjs-ng measures its time limit with ``clock()``, the CPU time of the whole
process, so in a worker whose threads all run code a block was stopped early; and a fault in
the binding would hang or crash the worker. A child runs one execution at a time and nothing
else, so its clock is that execution's own, and a child that hangs or dies is killed and
replaced while the worker carries on.

Each child is ``python -P -m solder.engine.code_runtime`` (fork and exec, as the ``spawn``
start method does, never a bare fork of this multithreaded process; ``multiprocessing`` is not
used because its spawn would re-import the worker's ``__main__``, i.e. the whole app). Requests
and replies are length-prefixed JSON over the child's stdin and stdout (protocol in
``code_runtime``). What a caller meets::

    no child free       it waits, FIFO, up to ``wait`` seconds -> RetryableError (all busy)
    child too slow      past the wall-clock deadline the child is SIGKILLed and replaced
                        -> TimeoutError, which ``code`` turns into "ran longer than"
    child died          (a crash, an OOM kill, a signal from outside) it is replaced
                        -> RetryableError: the fault may be ours, another attempt may work
    child cannot start  -> RetryableError

Children are started when the pool is made (lazily, on the first code block) and replaced
when one is killed or found dead. They leave with the worker: :func:`shutdown` runs at exit,
and a child whose parent vanished without it reads end-of-file on its stdin and exits (at the
latest once its current run hits its time limit).
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Final

import solder
from solder.errors import RetryableError

START_SECONDS: Final = 10.0
"""How long a new child may take to import QuickJS and say it is ready."""

STOP_SECONDS: Final = 1.0
"""How long :func:`shutdown` waits for children to leave on end-of-file before killing them."""

_HEADER: Final = struct.Struct(">I")
_READ_CHUNK: Final = 1 << 16
_COMMAND: Final = (sys.executable, "-P", "-m", "solder.engine.code_runtime")


class Pool:
    """``size`` children; :meth:`call` sends one request to a free one and returns its reply."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one process")
        self.size = size
        self._lock = threading.Lock()
        self._closed = False
        self._children: set[_Child] = set()
        # None is a slot whose process could not be started: the next taker starts one.
        self._idle: deque[_Child | None] = deque(self._start() for _ in range(size))
        self._waiters: deque[_Waiter] = deque()

    def call(self, request: bytes, *, seconds: float, wait: float) -> bytes:
        """Send ``request``; its reply must come within ``seconds`` of wall-clock time.

        Raises ``TimeoutError`` when it does not (the child is killed and replaced), and
        ``RetryableError`` when no child came free within ``wait`` seconds or the child died.
        """
        slot = self._take(wait)
        done = False
        try:
            if slot is not None and slot.proc.poll() is not None:
                slot = self._replace(slot)  # died while idle: nothing of this call reached it
            if slot is None:
                slot = self._start()
                if slot is None:
                    raise RetryableError("code: the sandbox process could not start", field="code")
            if not slot.ready:
                self._await_ready(slot)
            reply = slot.exchange(request, time.monotonic() + seconds)
            done = True
            return reply
        except _Died:
            assert slot is not None
            raise RetryableError(
                f"code: the sandbox process died while running the code ({slot.how()}); it "
                "was replaced, and another attempt may work",
                field="code",
            ) from None
        finally:
            # Anything short of a whole reply leaves the child in an unknown state.
            self._give(slot if done else self._replace(slot))

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(child.proc.pid for child in self._children)

    def close(self) -> None:
        """Stop every child: idle ones leave on end-of-file, busy ones are killed."""
        with self._lock:
            self._closed = True
            idle = [child for child in self._idle if child is not None]
            busy = self._children.difference(idle)
            self._idle.clear()
            self._children.clear()
            for waiter in self._waiters:
                waiter.closed = True
                waiter.event.set()
            self._waiters.clear()
        for child in busy:
            # Only the signal: the thread using the child sees end-of-file and cleans up;
            # closing its pipes under it could hand their numbers to some other file.
            child.proc.kill()
        for child in idle:
            _pipe(child.proc.stdin).close()
        deadline = time.monotonic() + STOP_SECONDS
        for child in idle:
            child.stop(deadline)

    def forget(self) -> None:
        """In a forked copy of the worker: drop the parent's pipes without touching its children."""
        for child in list(self._children):
            _pipe(child.proc.stdin).close()
            _pipe(child.proc.stdout).close()

    def _take(self, wait: float) -> _Child | None:
        with self._lock:
            if self._closed:
                raise RetryableError("code: the sandbox pool is shut down", field="code")
            if self._idle:
                return self._idle.popleft()
            waiter = _Waiter()
            self._waiters.append(waiter)
        try:
            waiter.event.wait(wait)
        except BaseException:  # interrupted: a slot handed over meanwhile must not be lost
            if not self._leave(waiter):
                self._give(waiter.slot)
            raise
        if self._leave(waiter):
            raise RetryableError(
                f"code: waited {wait * 1000:.0f} ms for a sandbox process; all "
                f"{self.size} were busy with other code blocks",
                field="code",
            )
        if waiter.closed:
            raise RetryableError("code: the sandbox pool is shut down", field="code")
        return waiter.slot

    def _leave(self, waiter: _Waiter) -> bool:
        """Take ``waiter`` out of the queue unless it was served; whether it was taken out."""
        with self._lock:
            if waiter.event.is_set():
                return False
            self._waiters.remove(waiter)
            return True

    def _give(self, slot: _Child | None) -> None:
        """Hand a slot to the longest waiter, or put it back (at the end: the child that just
        answered gets time to prepare its next runtime)."""
        with self._lock:
            closed = self._closed
            if not closed:
                if self._waiters:
                    waiter = self._waiters.popleft()
                    waiter.slot = slot
                    waiter.event.set()
                else:
                    self._idle.append(slot)
        if closed and slot is not None:
            slot.kill()

    def _await_ready(self, child: _Child) -> None:
        try:
            child.exchange(None, time.monotonic() + START_SECONDS)
        except (_Died, TimeoutError):
            raise RetryableError(
                f"code: the sandbox process did not start ({child.how()})", field="code"
            ) from None
        child.ready = True

    def _replace(self, slot: _Child | None) -> _Child | None:
        if slot is not None:
            slot.kill()
            with self._lock:
                self._children.discard(slot)
        return self._start()

    def _start(self) -> _Child | None:
        if self._closed:
            return None
        try:
            child = _Child()
        except OSError:
            return None
        with self._lock:
            self._children.add(child)
        return child


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.slot: _Child | None = None
        self.closed = False


class _Died(Exception):
    """The child closed its end of the pipes: it exited or was killed."""


class _Child:
    """One child process; used by one thread at a time (the pool's slot is the lock)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603 - fixed argv
            _COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=_child_env()
        )
        self.ready = False
        stdin, stdout = _pipe(self.proc.stdin), _pipe(self.proc.stdout)
        self._out, self._in = stdin.fileno(), stdout.fileno()
        os.set_blocking(self._out, False)
        os.set_blocking(self._in, False)
        self._writable = select.poll()
        self._writable.register(self._out, select.POLLOUT)
        self._readable = select.poll()
        self._readable.register(self._in, select.POLLIN)

    def exchange(self, request: bytes | None, deadline: float) -> bytes:
        """Send a frame (None: send nothing) and read the reply frame, by ``deadline``."""
        try:
            if request is not None:
                self._write(_HEADER.pack(len(request)) + request, deadline)
            return self._read(deadline)
        except (BrokenPipeError, ConnectionResetError):
            self._reap()
            raise _Died from None

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()  # SIGKILL; the process cannot ignore it, a wait is brief
        self._close()

    def stop(self, deadline: float) -> None:
        try:
            self.proc.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._close()

    def how(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "it closed its pipe"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def _reap(self) -> None:
        """Wait for the exit that closed the pipe, so :meth:`how` can tell how it ended."""
        # A process stuck in the kernel is reaped later, by subprocess's own clean-up.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_SECONDS)

    def _close(self) -> None:
        self._reap()
        _pipe(self.proc.stdin).close()
        _pipe(self.proc.stdout).close()

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._out, view) :]
            except BlockingIOError:
                _wait(self._writable, deadline)

    def _read(self, deadline: float) -> bytes:
        data = bytearray()
        need = _HEADER.size
        while len(data) < need:
            try:
                chunk = os.read(self._in, _READ_CHUNK)  # a pipe holds no more than this
            except BlockingIOError:
                _wait(self._readable, deadline)
                continue
            if not chunk:
                self._reap()
                raise _Died
            data += chunk
            if need == _HEADER.size and len(data) >= need:
                need += _HEADER.unpack_from(data)[0]
        return bytes(data[_HEADER.size :])


def _wait(poller: select.poll, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    poller.poll(math.ceil(left * 1000))


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    assert stream is not None
    return stream


_PASSED = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")


def _child_env() -> dict[str, str]:
    """A bare environment: none of the worker's settings (database URL, keys, broker) reach
    the process that runs user code. The directory this ``solder`` came from is first on the
    path, so the child imports the same code whatever the worker's working directory is."""
    env = {name: os.environ[name] for name in _PASSED if name in os.environ}
    extra = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, extra) if p)
    return env


_ROOT: Final = str(Path(solder.__file__).resolve().parent.parent)


def default_size() -> int:
    """One child per CPU this process may use, at most four."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


_lock = threading.Lock()
_pool: Pool | None = None
_hooked = False


def pool() -> Pool:
    """The process's pool, started on first use."""
    global _pool, _hooked
    with _lock:
        if _pool is None:
            if not _hooked:
                atexit.register(shutdown)
                os.register_at_fork(after_in_child=_after_fork)
                _hooked = True
            _pool = Pool(default_size())
        return _pool


def shutdown() -> None:
    """Stop the pool's children (it starts again on next use); runs at interpreter exit."""
    global _pool
    with _lock:
        current, _pool = _pool, None
    if current is not None:
        current.close()


def _after_fork() -> None:
    global _lock, _pool
    _lock = threading.Lock()
    if _pool is not None:
        _pool.forget()
        _pool = None
