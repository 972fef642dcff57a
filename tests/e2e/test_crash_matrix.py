"""Crash tests: SIGKILL Solder at random points of many runs, then prove from the stored
history (``tests/history.py``) that every accepted event has exactly one run per matching
installation, every run finished, and no block that had finished ran again.

* one process: ``solder serve`` (API and workers together) on the test's database, killed and
  restarted several times;
* scaled out: PostgreSQL, RabbitMQ, ``solder serve`` (API only) and three ``solder worker``
  processes; a random worker is killed and replaced, several times, so three stay alive;
* a receiver that is down for a while: it gets every delivery once it is back, each after
  retries that kept to the backoff schedule.

The kill points come from ``random.Random(seed)``: how many new deliveries to wait for, and
how long after that to strike. Set ``SOLDER_CRASH_SEED`` to repeat a failure; every failure
message names its seed. Kills are placed by delivery counts, so each lands mid-way.

Every event fans out: each of two users has installed both workflows of the integration
(three Stream Data blocks and two), all started by the same custom event.
"""

from __future__ import annotations

import collections
import itertools
import os
import random
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
import yaml

from tests.eventflow import EVENT, StreamBlock, fire, install_flow, write_flow
from tests.flows import wait_until
from tests.history import (
    Accepted,
    History,
    Kill,
    Step,
    check,
    check_deliveries,
    finished_steps,
    leases,
    run_statuses,
)
from tests.processes import (
    BROKER,
    Arrival,
    RecordingReceiver,
    Solder,
    broker_consumers,
    broker_queue,
    client,
    fresh_postgres,
    start_worker,
)
from tests.servers import run_asgi

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("SOLDER_CRASH_SEED", "20250611"))
WORKFLOWS = {
    "parcel-shipped": (
        StreamBlock("record-parcel", "0d5e7a10-0000-4000-8000-0000000000d1", ""),
        StreamBlock("notify-customer", "0d5e7a10-0000-4000-8000-0000000000d2", ""),
        StreamBlock("update-ledger", "0d5e7a10-0000-4000-8000-0000000000d3", ""),
    ),
    "parcel-audited": (
        StreamBlock("audit-parcel", "0d5e7a10-0000-4000-8000-0000000000e1", ""),
        StreamBlock("archive-parcel", "0d5e7a10-0000-4000-8000-0000000000e2", ""),
    ),
}
USERS = ("gregg", "hana")
INSTALLS_PER_EVENT = len(WORKFLOWS)  # each user installed every workflow
STEPS_PER_EVENT = sum(len(blocks) for blocks in WORKFLOWS.values())


def write_fanout_flow(directory: Path, receiver_url: str) -> tuple[Path, list[StreamBlock]]:
    """The event and an integration of every workflow in ``WORKFLOWS``, all started by it."""
    directory.mkdir(parents=True, exist_ok=True)
    blocks = {
        key: [StreamBlock(b.key, b.id, f"{receiver_url}/{b.key}") for b in wf]
        for key, wf in WORKFLOWS.items()
    }
    integration = {
        "integration": {"key": "parcels", "app": "bigcommerce", "name": "Parcels"},
        "workflows": [
            {
                "key": key,
                "name": key.replace("-", " ").capitalize(),
                "trigger": {"key": "shipped", "type": "customEvent", "event": EVENT},
                "blocks": [b.definition() for b in wf],
            }
            for key, wf in blocks.items()
        ],
    }
    events = {"events": [{"name": EVENT, "body": {"n": "Number"}}]}
    (directory / "events.yaml").write_text(yaml.safe_dump(events))
    (directory / "parcels.yaml").write_text(yaml.safe_dump(integration))
    return directory, [b for wf in blocks.values() for b in wf]


@dataclass
class Crash:
    """One crash test's state: what it sent, what it saw at each kill, and its seed."""

    solder: Solder
    receiver: RecordingReceiver
    events: int
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    accepted: list[Accepted] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.solder.env["SOLDER_DATABASE_URL"]

    @property
    def steps(self) -> int:
        return self.events * STEPS_PER_EVENT

    def install(self, url: str, key: str, tmp_path: Path, receiver_url: str) -> list[str]:
        """Install both workflows for every one of ``USERS``; return their ids."""
        flow, blocks = write_fanout_flow(tmp_path / "flow", receiver_url)
        with client(url, key) as api:
            return [install_flow(api, flow, blocks, name).user_id for name in USERS]

    def fire(self, url: str, key: str, users: list[str]) -> None:
        """Send every event, for each user in turn."""
        with client(url, key) as api:
            for n in range(self.events):
                user = users[n % len(users)]
                fire(api, user, n, key=f"parcel-{n}")
                self.accepted.append(Accepted(f"parcel-{n}", user, {"n": n}))

    def strike(self, low: int, high: int, kill: Callable[[], None]) -> None:
        """Wait for ``low..high`` new deliveries (and up to 80 ms more), ``kill``, record."""
        start = self.receiver.total()
        self.receiver.wait_for(start + self.rng.randint(low, high), timeout=60)
        time.sleep(self.rng.uniform(0, 0.08))
        kill()
        time.sleep(0.2)  # requests the dead process had sent are counted by now
        finished = finished_steps(self.database_url)
        self.kills.append(Kill(finished, len(self.receiver.seen())))
        # the kill must land mid-way, or the test proves nothing
        assert 0 < len(finished) < self.steps, f"kill {len(self.kills)}: {len(finished)} done"

    def settle(self, timeout: float) -> None:
        runs = self.events * INSTALLS_PER_EVENT

        def done() -> bool:
            statuses = run_statuses(self.database_url)
            return statuses["succeeded"] + statuses["failed"] == runs

        wait_until(f"{runs} finished runs", done, timeout=timeout)

    def check(self) -> History:
        history = check(
            self.database_url,
            self.accepted,
            self.receiver.seen(),
            self.kills,
            installs_per_event=INSTALLS_PER_EVENT,
        )
        done = [len(k.finished) for k in self.kills]
        assert done == sorted(set(done)), f"no progress between some kills: {done}"
        return history

    def failure(self, exc: AssertionError) -> AssertionError:
        kills = [(len(k.finished), k.seen) for k in self.kills]
        return AssertionError(
            f"seed {SEED} (repeat with SOLDER_CRASH_SEED={SEED}): {exc}\n"
            f"kills (steps finished, arrivals seen): {kills}\n{self.solder.output()}"
        )


def start_workers(solder: Solder, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` ``solder worker`` processes and wait until each consumes the queue."""
    started = [start_worker(solder) for _ in range(count)]
    queue = solder.env["SOLDER_BROKER_QUEUE"]
    try:
        wait_until(f"{count} workers", lambda: broker_consumers(queue) >= count, timeout=60)
    except AssertionError:
        for proc in started:
            proc.kill()
            proc.wait(10)
        raise
    return started


def owner(proc: subprocess.Popen[bytes]) -> str:
    """The lease owner a ``solder worker`` process writes on the runs it claims."""
    return f"{socket.gethostname()}:{proc.pid}"


def _sigkill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_one_process_killed_at_random_points_loses_and_repeats_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """``solder serve`` on the test's database (SQLite, or PostgreSQL in the second pass),
    SIGKILLed four times at random points and restarted on the same store."""
    events, kills = 60, 4  # enough steps that the fourth kill still lands mid-way
    receiver = RecordingReceiver(delay=0.03)
    crash = Crash(Solder(tmp_path, database_url), receiver, events)
    with run_asgi(receiver.app) as receiver_url:
        key = crash.solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            for life in range(kills + 1):
                with crash.solder.serve() as (url, proc):
                    if life == 0:
                        users = crash.install(url, key, tmp_path, receiver_url)
                        crash.fire(url, key, users)
                        receiver.gate.set()
                    if life < kills:
                        crash.strike(8, 30, partial(_sigkill, proc))
                    else:
                        crash.settle(timeout=60)
            history = crash.check()
        except AssertionError as exc:
            raise crash.failure(exc) from exc
    assert history.runs == events * INSTALLS_PER_EVENT


@pytest.fixture
def scaled(tmp_path: Path) -> Iterator[Solder]:
    """A fresh PostgreSQL database and broker queue, migrated; first pass only."""
    if os.environ.get("SOLDER_TEST_DATABASE_URL"):
        pytest.skip("runs once, in the first pass (it always uses PostgreSQL)")
    with fresh_postgres() as database, broker_queue() as queue:
        solder = Solder(tmp_path, database)
        solder.env |= {
            "SOLDER_BROKER_URL": BROKER,
            "SOLDER_BROKER_QUEUE": queue,
            "SOLDER_ENGINE__WORKERS": "4",
            "SOLDER_ENGINE__LEASE_SECONDS": "3",
        }
        solder.run("db", "upgrade")
        yield solder


def test_three_workers_one_killed_at_a_time_lose_and_repeat_nothing(
    tmp_path: Path, scaled: Solder
) -> None:
    """Three ``solder worker`` processes; a random one is SIGKILLed at a random point and a
    new one started, four times."""
    events, kills = 60, 4  # enough steps that the fourth kill still lands mid-way
    receiver = RecordingReceiver(delay=0.03)
    crash = Crash(scaled, receiver, events)
    workers: list[subprocess.Popen[bytes]] = []
    stranded: list[int] = []  # runs each killed worker held

    def kill_a_busy_worker() -> None:
        held = leases(crash.database_url)
        busy = [w for w in workers if held[owner(w)]]
        victim = crash.rng.choice(busy or workers)
        workers.remove(victim)
        _sigkill(victim)
        stranded.append(leases(crash.database_url)[owner(victim)])

    with run_asgi(receiver.app) as receiver_url:
        key = scaled.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            with scaled.serve() as (url, _):
                workers += start_workers(scaled, 3)
                users = crash.install(url, key, tmp_path, receiver_url)
                crash.fire(url, key, users)
                receiver.gate.set()
                for _ in range(kills):
                    crash.strike(10, 30, kill_a_busy_worker)
                    workers.append(start_worker(scaled))
                crash.settle(timeout=90)
            history = crash.check()
            # the others took over what the dead held, or the test proved little
            assert sum(n > 0 for n in stranded) >= kills // 2, f"runs held when killed: {stranded}"
        except AssertionError as exc:
            raise crash.failure(exc) from exc
        finally:
            for proc in workers:
                proc.kill()
                proc.wait(10)
    assert history.runs == events * INSTALLS_PER_EVENT


# ---- a receiver that is down for a while ------------------------------------------------

BACKOFF_BASE = 0.2
MAX_ATTEMPTS = 8
OUTAGE = 4.0  # seconds after the last event was sent: 5-7 attempts fail, 8 are allowed
RETRY_SETTINGS = {
    "SOLDER_ENGINE__BACKOFF_BASE": str(BACKOFF_BASE),
    "SOLDER_ENGINE__BACKOFF_MAX": "30",
    "SOLDER_ENGINE__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
}
FIRST_BLOCKS = {wf[0].id for wf in WORKFLOWS.values()}


@dataclass(frozen=True)
class Lateness:
    """How long after its backoff a retry may come: polling, claiming, a busy machine.

    ``each`` bounds every wait (a retry that waited for a sweep or a lost lease breaks it);
    ``typical`` bounds the median wait after each attempt number, so a schedule that does not
    grow like the backoff shows even when each wait is within ``each``.
    """

    each: float
    typical: float


EMBEDDED = Lateness(each=1.0, typical=0.3)
SCALED = Lateness(each=2.0, typical=0.6)  # through the broker, 3 workers on 2 cores


def off_schedule(
    history: History, arrivals: list[Arrival], down_until: float, late: Lateness
) -> dict[str, str]:
    """The steps whose requests did not follow the outage and the backoff schedule.

    A run's first block was answered 503 until the receiver came back, then 200 once, and the
    store counted every request as an attempt. The wait after failed attempt ``j`` is the
    backoff ``base * 2**(j-1)``, halved by jitter at most: never shorter, and at most ``late``
    longer. The later blocks ran once.
    """
    by_key: dict[str, list[Arrival]] = collections.defaultdict(list)
    for arrival in arrivals:
        by_key[arrival.key].append(arrival)
    problems: dict[str, str] = {}
    waits: dict[int, list[float]] = collections.defaultdict(list)  # attempt -> waits after it
    for key, step in history.steps.items():
        got = by_key[key]
        answers = [a.status for a in got]
        if key.rsplit(":", 1)[1] not in FIRST_BLOCKS:
            if answers != [200] or step.attempts != 1:
                problems[key] = f"answers {answers}, {step.attempts} attempts stored"
            continue
        if len(got) < 2 or answers != [503] * (len(got) - 1) + [200]:
            problems[key] = f"answers {answers}"
        elif step.attempts != len(got):
            problems[key] = f"{len(got)} requests but {step.attempts} attempts stored"
        elif got[-1].at < down_until:
            problems[key] = f"answered 200 {down_until - got[-1].at:.2f}s before the outage ended"
        gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
        for j, gap in enumerate(gaps, 1):
            waits[j].append(gap)
            backoff = BACKOFF_BASE * 2 ** (j - 1)
            if not backoff / 2 <= gap <= backoff + late.each:
                shown = [round(g, 2) for g in gaps]
                outside = f"{gap:.2f}s, outside {backoff / 2}-{backoff}s"
                problems.setdefault(key, f"waits {shown}: after attempt {j} {outside}")
    for j, found in sorted(waits.items()):
        backoff = BACKOFF_BASE * 2 ** (j - 1)
        median = statistics.median(found)
        if len(found) >= 5 and not backoff / 2 <= median <= backoff + late.typical:
            problems[f"attempt {j}"] = f"median wait after it {median:.2f}s, backoff {backoff}s"
    return problems


def receiver_down_for_a_while(solder: Solder, tmp_path: Path, workers: int, late: Lateness) -> None:
    """Install, take the receiver down for ``OUTAGE`` seconds, send events meanwhile, wait
    for every run to end; check the history and the retry schedule."""
    events = 12
    receiver = RecordingReceiver(delay=0.02)
    receiver.gate.set()
    crash = Crash(solder, receiver, events)
    solder.env |= RETRY_SETTINGS
    started: list[subprocess.Popen[bytes]] = []
    with run_asgi(receiver.app) as receiver_url:
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            with solder.serve() as (url, _):
                started += start_workers(solder, workers) if workers else []
                users = crash.install(url, key, tmp_path, receiver_url)
                receiver.down_until = float("inf")
                began = time.monotonic()
                crash.fire(url, key, users)
                receiver.down_until = time.time() + OUTAGE
                # down for longer than 12.7 s, the 8th attempt of the first run could fail
                assert time.monotonic() - began < 6, "sending the events took too long"
                crash.settle(timeout=60)
            history = crash.check()
            assert history.runs == events * INSTALLS_PER_EVENT
            problems = off_schedule(history, receiver.seen(), receiver.down_until, late)
            assert not problems, f"deliveries off the retry schedule: {problems}"
        except AssertionError as exc:
            raise crash.failure(exc) from exc
        finally:
            for proc in started:
                proc.kill()
                proc.wait(10)


def test_a_receiver_down_for_a_while_gets_everything_once_it_is_back(
    tmp_path: Path, database_url: str
) -> None:
    """One process (SQLite, or PostgreSQL in the second pass); the receiver answers 503 for
    ``OUTAGE`` seconds while events arrive."""
    receiver_down_for_a_while(Solder(tmp_path, database_url), tmp_path, workers=0, late=EMBEDDED)


def test_a_receiver_down_for_a_while_gets_everything_from_three_workers(
    tmp_path: Path, scaled: Solder
) -> None:
    """The same outage on PostgreSQL and RabbitMQ: retries travel as broker messages with an
    ETA to three ``solder worker`` processes."""
    receiver_down_for_a_while(scaled, tmp_path, workers=3, late=SCALED)


# ---- a step slower than a lease ---------------------------------------------------------


def test_a_step_slower_than_the_lease_is_sent_once_and_its_run_ends(
    tmp_path: Path, database_url: str
) -> None:
    """No crash at all: the receiver takes 3 s to answer and a lease lasts 2 s.

    The lease is renewed before a block, not during it, so it lapses while the request is
    out; the run must still end, with its step sent once (by default a lease lasts 30 s and
    the request timeout is 30 s, so a receiver slower than 20-30 s meets the same case).
    """
    receiver = RecordingReceiver(delay=3.0)
    receiver.gate.set()
    solder = Solder(tmp_path, database_url)
    solder.env["SOLDER_ENGINE__LEASE_SECONDS"] = "2"
    with run_asgi(receiver.app) as receiver_url:
        block = StreamBlock("slow-ledger", "0d5e7a10-0000-4000-8000-0000000000f1", "")
        block = StreamBlock(block.key, block.id, f"{receiver_url}/{block.key}")
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        with solder.serve() as (url, _), client(url, key) as api:
            info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
            fire(api, info.user_id, 0, key="slow-0")
            deadline = time.monotonic() + 12  # four times what the run needs
            while time.monotonic() < deadline and not run_statuses(database_url)["succeeded"]:
                time.sleep(0.1)
    arrivals = receiver.seen()
    times = [round(a.at - arrivals[0].at, 1) for a in arrivals]
    statuses = dict(run_statuses(database_url))
    assert len(arrivals) == 1, (
        f"step {arrivals[0].key} sent {len(arrivals)} times with no crash, at {times} s; "
        f"runs: {statuses}"
    )
    accepted = [Accepted("slow-0", info.user_id, {"n": 0})]
    check(database_url, accepted, arrivals, installs_per_event=1)


# ---- the checker itself -----------------------------------------------------------------


def test_the_checker_flags_lost_repeated_and_unexplained_deliveries() -> None:
    """``check_deliveries`` on made-up histories: each kind of offence is reported."""
    a, b, c = "run1:block-a", "run1:block-b", "run2:block-a"
    done = Step(a, "succeeded", 1, datetime.fromtimestamp(100, UTC))
    steps = {a: done, b: Step(b, "succeeded", 1, None), c: Step(c, "succeeded", 1, None)}
    ok = [Arrival(a, 10, 200), Arrival(b, 11, 200), Arrival(b, 30, 200), Arrival(c, 31, 200)]
    kill = Kill(frozenset({a}), seen=2)  # b was in flight: its repeat is explained
    assert check_deliveries(ok, [kill], {a, b, c}, steps) == {b: 2}

    with pytest.raises(AssertionError, match="steps never delivered 1:\n  run2:block-a"):
        check_deliveries(ok[:3], [kill], {a, b, c}, steps)
    with pytest.raises(AssertionError, match="requests for steps no run has"):
        check_deliveries(ok, [kill], {a, b}, steps)
    with pytest.raises(AssertionError, match="ran again 1:\n  run1:block-a: finished at kill 1"):
        check_deliveries([*ok, Arrival(a, 32, 200)], [kill], {a, b, c}, steps)
    with pytest.raises(AssertionError, match="after its finish was stored"):
        check_deliveries([*ok, Arrival(a, 101, 200)], [], {a, b, c}, steps)
    with pytest.raises(AssertionError, match="delivered twice without a crash between 1:"):
        check_deliveries(ok, [], {a, b, c}, steps)
    finished_b = Kill(frozenset({a, b}), seen=2)  # b had finished: its repeat is an offence
    with pytest.raises(AssertionError, match="ran again 1:\n  run1:block-b: finished at kill 1"):
        check_deliveries(ok, [finished_b], {a, b, c}, steps)
    # failed attempts (5xx) are no deliveries, so a retry after them is no repeat
    retried = [Arrival(c, 1, 503), Arrival(c, 2, 503), *ok[:2], ok[3]]
    assert check_deliveries(retried, [], {a, b, c}, steps) == {}
