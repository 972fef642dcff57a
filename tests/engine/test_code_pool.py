"""The pool of child processes the code block runs in: time limits, kills, crashes, queueing
and clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from solder.engine import code, code_pool, code_runtime
from solder.engine.code import CodeFailed, CodeResult, check_source, run_code
from solder.errors import BadInput, RetryableError
from tests.engine.code_helpers import (
    fails,
    in_thread,
    is_sandbox,
    sandbox_children,
    wait_until,
)

SMALL_MEMORY = 8 * 2**20
LOOP = "function main() { for (;;) {} }"

# The pool of child processes. Each child runs one execution at a time, so QuickJS's CPU-time
# limit is that execution's own; the parent adds a wall-clock deadline and replaces children
# that hang or die. These tests find children through /proc, as an operator would.

SPIN_300_MS = """function main() {
  const start = Date.now();
  let n = 0;
  while (Date.now() - start < 300) n++;
  return n > 0;
}"""


@pytest.fixture(autouse=True, scope="module")
def no_leftover_processes() -> Iterator[None]:
    yield
    code.shutdown()
    assert sandbox_children() == {}


@pytest.fixture
def one_child(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A pool of one child, started and ready, so every call meets the same process: its pid."""
    code.shutdown()
    monkeypatch.setattr(code_pool, "default_size", lambda: 1)
    run_code("function main() {}", None)
    (pid,) = code_pool.pool().pids()
    yield pid
    code.shutdown()


def test_the_pool_has_one_single_threaded_child_per_cpu_up_to_four() -> None:
    run_code("function main() {}", None)
    pids = code_pool.pool().pids()
    assert len(pids) == min(4, len(os.sched_getaffinity(0)))
    assert sorted(sandbox_children()) == pids
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        assert "\nThreads:\t1\n" in status  # nothing else shares the CPU clock QuickJS reads


def test_the_child_imports_only_the_runtime() -> None:
    probe = "import sys, solder.engine.code_runtime; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True
    )
    modules = done.stdout.split()
    assert [m for m in modules if m.startswith("solder")] == [
        "solder",
        "solder.engine",
        "solder.engine.code_runtime",
    ]
    assert not {"quickjs", "concurrent", "pydantic", "sqlalchemy", "multiprocessing"} & set(modules)


def test_infinite_loops_in_four_threads_all_stop_at_their_own_limit() -> None:
    for _ in range(2 * code_pool.pool().size):
        run_code("function main() {}", None)  # every child started and ready
    start = threading.Barrier(4)

    def spin(_: int) -> BaseException | None:
        start.wait()
        try:
            run_code(LOOP, None, timeout_ms=300)
        except Exception as exc:
            return exc
        return None

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(spin, range(4)))
    elapsed = time.monotonic() - started
    for outcome in outcomes:
        assert type(outcome) is CodeFailed  # fatal, not retryable: no attempts are burnt
        assert outcome.message == "code: ran longer than 300 ms"
    # Two rounds on a two-CPU machine (the pool has a child per CPU): about 0.65 s when the
    # machine is idle; each round ends by its wall-clock deadline (0.8 s) however busy it is.
    assert elapsed < 2.5


def test_a_busy_thread_in_the_worker_does_not_spend_a_childs_budget() -> None:
    # In one process the neighbour's CPU time counted against the code's 500 ms budget.
    run_code("function main() {}", None)
    stop = threading.Event()

    def neighbour() -> None:
        while not stop.is_set():
            pass

    thread = threading.Thread(target=neighbour)
    thread.start()
    try:
        time.sleep(0.05)
        for _ in range(2):
            assert run_code(SPIN_300_MS, None, timeout_ms=500).output is True
    finally:
        stop.set()
        thread.join()


def test_calls_beyond_the_pool_size_queue_and_all_succeed() -> None:
    size = code_pool.pool().size
    source = (
        "function main(n) { let t = 0; for (let i = 0; i < 100000; i++) t += i % n; return t; }"
    )
    calls = list(range(1, 4 * size + 3))
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        outputs = list(pool.map(lambda n: run_code(source, n, timeout_ms=10_000).output, calls))
    assert outputs == [sum(i % n for i in range(100000)) for n in calls]
    assert len(code_pool.pool().pids()) == size


def test_waiting_for_a_child_is_bounded_and_retryable(one_child: int) -> None:
    thread, raised = in_thread(LOOP, timeout_ms=1500)  # holds the only child 1.5 to 3 s
    wait_until(lambda: sandbox_children().get(one_child) == "R")
    started = time.monotonic()
    with pytest.raises(RetryableError) as info:
        run_code("function main() { return 1; }", None, timeout_ms=100)
    elapsed = time.monotonic() - started
    assert info.value.message == (
        "code: waited 1100 ms for a sandbox process; all 1 were busy with other code blocks"
    )
    assert 1.05 <= elapsed < 1.6
    thread.join()
    assert [str(exc) for exc in raised] == ["code: ran longer than 1500 ms"]


def test_no_state_leaks_between_calls_on_the_same_child(one_child: int) -> None:
    polluter = """
    var counter = 41; globalThis.leak = "secret"; Array.prototype.poisoned = true;
    JSON.parse = () => "hijacked"; console.log = () => {}; delete globalThis.Math;
    var hoard = [];
    function main() {
      counter++;
      for (let i = 0; i < 50; i++) hoard.push("z".repeat(100000) + i);  // ~5 of the 8 MiB
      return counter;
    }
    """
    probe = """
    function main() {
      console.log("seen");
      return [typeof counter, typeof leak, typeof hoard, [].poisoned === undefined,
              JSON.parse("[1]")[0], typeof Math];
    }
    """
    for _ in range(3):
        assert run_code(polluter, {}, memory_bytes=SMALL_MEMORY).output == 42
        result = run_code(probe, {}, memory_bytes=SMALL_MEMORY)
        assert result == CodeResult(
            output=["undefined", "undefined", "undefined", True, 1, "object"], logs=["seen"]
        )
    assert code_pool.pool().pids() == [one_child]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_child_killed_mid_run_is_replaced(one_child: int, sig: signal.Signals) -> None:
    thread, raised = in_thread(
        "function main() { console.log('x'); for (;;) {} }", timeout_ms=10_000
    )
    wait_until(lambda: sandbox_children().get(one_child) == "R")
    started = time.monotonic()
    os.kill(one_child, sig)
    thread.join(5)
    assert time.monotonic() - started < 1
    (error,) = raised
    assert type(error) is RetryableError  # it may have been our fault: another attempt may work
    assert error.field == "code"
    assert error.message == (
        f"code: the sandbox process died while running the code (killed by {sig.name}); it was"
        " replaced, and another attempt may work"
    )
    assert not is_sandbox(one_child)
    assert run_code("function main(i) { return i + 1; }", 1).output == 2
    assert code_pool.pool().pids() != [one_child]


def test_a_child_that_stops_answering_is_killed_at_the_wall_clock_deadline(
    one_child: int,
) -> None:
    os.kill(one_child, signal.SIGSTOP)  # uses no CPU time: only the parent's deadline can end it
    started = time.monotonic()
    failure = fails(LOOP, timeout_ms=200)
    elapsed = time.monotonic() - started
    assert failure.message == "code: ran longer than 200 ms"
    assert 0.7 <= elapsed < 1.2  # 200 ms plus the 500 ms margin
    wait_until(lambda: not is_sandbox(one_child))
    assert run_code("function main() { return 'again'; }", None).output == "again"
    (replacement,) = code_pool.pool().pids()
    assert replacement != one_child


def test_a_child_that_died_while_idle_is_replaced_before_use(one_child: int) -> None:
    os.kill(one_child, signal.SIGKILL)
    wait_until(lambda: sandbox_children().get(one_child) is None)
    assert run_code("function main() { return 'fine'; }", None).output == "fine"
    assert code_pool.pool().pids() != [one_child]


def test_the_child_caps_its_address_space_as_a_second_fence(one_child: int) -> None:
    run_code("function main() {}", None, memory_bytes=SMALL_MEMORY)
    run_code("function main() {}", None, memory_bytes=SMALL_MEMORY)
    limits = Path(f"/proc/{one_child}/limits").read_text().splitlines()
    (line,) = [line for line in limits if line.startswith("Max address space")]
    soft = int(line.split()[3])
    pages = int(Path(f"/proc/{one_child}/statm").read_text().split()[0])
    room = soft - pages * os.sysconf("SC_PAGE_SIZE")
    expected = 2 * SMALL_MEMORY + code_runtime.ADDRESS_HEADROOM  # QuickJS's limit stays first
    assert expected - 32 * 2**20 < room < expected + 32 * 2**20


def test_check_source_runs_in_the_pool_too(one_child: int) -> None:
    check_source("function main() {}")
    with pytest.raises(BadInput, match="no function main"):
        check_source("function other() {}")
    assert code_pool.pool().pids() == [one_child]


def test_shutdown_stops_every_child_and_the_pool_restarts_on_use() -> None:
    run_code("function main() {}", None)
    pids = code_pool.pool().pids()
    code.shutdown()
    assert sandbox_children() == {}
    assert not any(is_sandbox(pid) for pid in pids)
    assert run_code("function main() { return 3; }", None).output == 3
    assert not set(code_pool.pool().pids()) & set(pids)


_WORKER = """
import os, signal, sys
from solder.engine import code_pool
from solder.engine.code import run_code
run_code("function main() {}", None)
print(" ".join(map(str, code_pool.pool().pids())), flush=True)
if sys.argv[1] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("end", ["exits", "killed"])
def test_a_worker_leaves_no_sandbox_processes_behind(end: str, tmp_path: Path) -> None:
    # Killed, the worker runs no clean-up: its children see end-of-file on stdin and leave.
    with (tmp_path / "stderr").open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, end],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=30,
        )
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == code_pool.default_size(), (tmp_path / "stderr").read_text()
    wait_until(lambda: not any(is_sandbox(pid) for pid in pids), seconds=3)
