"""A checker over the stored history of a crash test: read the store, compare with what the
test sent and what its receiver got, and list every offender.

What it proves, after a test killed processes while they worked:

1. every accepted event is stored once (matched by its user and payload, which the test makes
   unique), and no other event is;
2. each has exactly one run per matching active installation (same environment and user, the
   event's trigger), and no run exists for anything else;
3. every run is terminal, and (unless told otherwise) succeeded with every block finished;
4. no side-effecting step that had finished ran again. The receiver keeps each request's
   ``Idempotency-Key`` (``{run id}:{step id}``) in arrival order, and at each kill the test
   records a :class:`Kill`: the steps the store had finished, then how many requests had
   arrived. A finished step may not arrive again after that; a step delivered twice is
   allowed only if a kill came between the two deliveries while it was not finished (the
   crash fell between the request and the checkpoint's commit), once per such kill; no
   delivery may arrive after the store recorded the step's finish; and every step of every
   run reached the receiver.

The workflows must be flat lists of blocks (no ``if``, ``branch`` or ``iterate``): the steps
a run should have are read from its version's top-level blocks.
"""

from __future__ import annotations

import collections
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from solder.store.db import make_engine, reader
from solder.store.runs import TERMINAL
from solder.store.tables import block_results, events, runs, workflow_installs, workflow_versions
from tests.processes import Arrival

SIDE_EFFECTS = frozenset({"streamData", "http", "appAction", "sql"})
"""Block types whose repeat would be seen outside Solder (see ``engine.blocks.has_side_effects``);
the tests' workflows use Stream Data only."""


@dataclass(frozen=True)
class Accepted:
    """An event the API accepted: the Idempotency-Key sent, for whom, with what data."""

    key: str
    user_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Kill:
    """The state at one SIGKILL: the side-effecting steps the store had finished, read first,
    then the number of arrivals the receiver had seen."""

    finished: frozenset[str]
    seen: int


@dataclass(frozen=True)
class Step:
    """The stored result of one side-effecting step."""

    key: str
    status: str
    attempts: int
    finished_at: datetime | None


@dataclass(frozen=True)
class History:
    """What the checker read, for the test's own further checks."""

    runs: int
    steps: dict[str, Step]
    repeats: dict[str, int]
    """Steps delivered more than once (each explained by a kill): key -> deliveries."""


@contextmanager
def _store(database_url: str) -> Iterator[Connection]:
    engine = make_engine(database_url, pool_size=1)
    try:
        with reader(engine).connect() as conn:
            yield conn
    finally:
        engine.dispose()


def finished_steps(database_url: str) -> frozenset[str]:
    """The side-effecting steps (``run:step``) the store had finished, read now."""
    with _store(database_url) as conn:
        rows = conn.execute(
            select(block_results.c.run_id, block_results.c.block_id).where(
                block_results.c.status == "succeeded",
                block_results.c.block_type.in_(SIDE_EFFECTS),
            )
        )
        return frozenset(f"{r.run_id}:{r.block_id}" for r in rows)


def run_statuses(database_url: str) -> collections.Counter[str]:
    with _store(database_url) as conn:
        return collections.Counter(str(s) for s in conn.execute(select(runs.c.status)).scalars())


def _listed(problems: Mapping[str, Any] | Sequence[Any], limit: int = 20) -> str:
    if isinstance(problems, Mapping):
        items = [f"{key}: {value}" for key, value in problems.items()]
    else:
        items = [str(item) for item in problems]
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{len(items)}:\n  {shown}{more}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def check(
    database_url: str,
    accepted: Sequence[Accepted],
    arrivals: Sequence[Arrival],
    kills: Sequence[Kill] = (),
    *,
    installs_per_event: int,
    succeeded: bool = True,
) -> History:
    """Assert points 1-4 of the module docstring; each failure lists its offenders."""
    with _store(database_url) as conn:
        stored_events = list(conn.execute(select(events)))
        stored_runs = list(conn.execute(select(runs)))
        installs = list(conn.execute(select(workflow_installs)))
        versions = select(workflow_versions.c.id, workflow_versions.c.definition)
        definitions = {str(r.id): r.definition for r in conn.execute(versions)}
        results = list(conn.execute(select(block_results)))
    keys = _check_events(stored_events, accepted)
    _check_fanout(stored_events, stored_runs, installs, keys, installs_per_event)
    expected, steps = _check_runs(stored_runs, definitions, results, succeeded)
    repeats = check_deliveries(arrivals, kills, expected, steps)
    return History(runs=len(stored_runs), steps=steps, repeats=repeats)


def _check_events(stored: list[Any], accepted: Sequence[Accepted]) -> dict[str, str]:
    """1. Every accepted event stored once, nothing else; returns event id -> test's key."""
    by_content: dict[tuple[str, str], list[Any]] = collections.defaultdict(list)
    for ev in stored:
        by_content[(str(ev.user_id), _canonical(ev.payload))].append(ev)
    sent = {(a.user_id, _canonical(a.data)): a for a in accepted}
    assert len(sent) == len(accepted), "the test must send unique (user, data) per event"
    copies = {a.key: len(by_content.get(content, [])) for content, a in sent.items()}
    not_once = {key: n for key, n in copies.items() if n != 1}
    assert not not_once, f"accepted events stored (key: times) {_listed(not_once)}"
    extra = [
        (str(ev.id), ev.payload) for c, evs in by_content.items() if c not in sent for ev in evs
    ]
    assert not extra, f"events stored that the test never sent {_listed(extra)}"
    return {str(by_content[content][0].id): a.key for content, a in sent.items()}


def _check_fanout(
    stored_events: list[Any],
    stored_runs: list[Any],
    installs: list[Any],
    keys: dict[str, str],
    installs_per_event: int,
) -> None:
    """2. One run per matching active installation of each event, and no other run."""
    matching: dict[tuple[str, str, str], list[str]] = collections.defaultdict(list)
    for inst in installs:
        if inst.active:
            matching[(inst.environment, str(inst.user_id), inst.trigger_key)].append(str(inst.id))
    runs_of_event: dict[str, list[str]] = collections.defaultdict(list)
    for run in stored_runs:
        runs_of_event[str(run.event_id)].append(str(run.workflow_install_id))
    wrong: dict[str, str] = {}
    for ev in stored_events:
        want = sorted(matching[(ev.environment, str(ev.user_id), f"event:{ev.name}")])
        got = sorted(runs_of_event.pop(str(ev.id), []))
        if len(want) != installs_per_event:
            wrong[keys[str(ev.id)]] = f"{len(want)} installs match, not {installs_per_event}"
        elif got != want:
            wrong[keys[str(ev.id)]] = f"runs for installs {got}, matching installs {want}"
    assert not wrong, f"events without one run per matching install {_listed(wrong)}"
    assert not runs_of_event, f"runs of events never accepted {_listed(runs_of_event)}"


def _check_runs(
    stored_runs: list[Any], definitions: dict[str, Any], results: list[Any], succeeded: bool
) -> tuple[set[str], dict[str, Step]]:
    """3. Every run terminal (and succeeded with every block finished); returns the
    side-effecting steps the runs have and the stored results of those."""
    open_runs = {str(r.id): r.status for r in stored_runs if r.status not in TERMINAL}
    assert not open_runs, f"runs not terminal {_listed(open_runs)}"
    if succeeded:
        failed = {str(r.id): r.error for r in stored_runs if r.status != "succeeded"}
        assert not failed, f"runs that did not succeed {_listed(failed)}"
    result_of = {f"{r.run_id}:{r.block_id}": r for r in results}
    expected: set[str] = set()
    unfinished: dict[str, str] = {}
    for run in stored_runs:
        for block in definitions[str(run.version_id)].get("blocks", []):
            key = f"{run.id}:{block['id']}"
            if block["type"] in SIDE_EFFECTS:
                expected.add(key)
            result = result_of.get(key)
            if succeeded and (result is None or result.status != "succeeded"):
                unfinished[key] = "no result" if result is None else result.status
    assert not unfinished, f"blocks of succeeded runs not finished {_listed(unfinished)}"
    steps = {
        key: Step(key, str(r.status), int(r.attempts), r.finished_at)
        for key, r in result_of.items()
        if r.block_type in SIDE_EFFECTS
    }
    return expected, steps


def check_deliveries(
    arrivals: Sequence[Arrival], kills: Sequence[Kill], expected: set[str], steps: dict[str, Step]
) -> dict[str, int]:
    """4. Every step in ``expected`` delivered, none after it finished (by the ``kills`` and
    the finish times in ``steps``), a repeat only across a kill that caught it unfinished;
    returns the repeats (key -> deliveries)."""
    at: dict[str, list[int]] = collections.defaultdict(list)  # key -> arrival indexes
    delivered: dict[str, list[int]] = collections.defaultdict(list)  # those answered 2xx
    for i, arrival in enumerate(arrivals):
        at[arrival.key].append(i)
        if arrival.status < 300:
            delivered[arrival.key].append(i)

    unknown = sorted(set(at) - expected)
    assert not unknown, f"requests for steps no run has {_listed(unknown)}"
    missing = sorted(expected - set(delivered))
    assert not missing, f"steps never delivered {_listed(missing)}"

    again: dict[str, str] = {}
    for n, kill in enumerate(kills, 1):
        for key in kill.finished:
            later = [i for i in at.get(key, []) if i >= kill.seen]
            if later:
                again[key] = f"finished at kill {n} (arrival {kill.seen}), arrived again {later}"
    for key, step in steps.items():
        last = arrivals[at[key][-1]] if at.get(key) else None
        stored = step.finished_at.timestamp() if step.finished_at is not None else None
        if (
            step.status == "succeeded"
            and last is not None
            and stored is not None
            and last.at >= stored
        ):
            again.setdefault(
                key, f"arrived at {last.at:.3f}, after its finish was stored at {stored:.3f}"
            )
    assert not again, f"finished steps that ran again {_listed(again)}"

    unexplained: dict[str, str] = {}
    repeats: dict[str, int] = {}
    for key, indexes in delivered.items():
        if len(indexes) > 1:
            repeats[key] = len(indexes)
        for before, after in itertools.pairwise(indexes):
            caught = [k for k in kills if before < k.seen <= after and key not in k.finished]
            if not caught:
                between = f"no kill between arrivals {before} and {after} caught it unfinished"
                unexplained[key] = f"delivered as arrivals {indexes}: {between}"
    assert not unexplained, f"steps delivered twice without a crash between {_listed(unexplained)}"
    return repeats


def leases(database_url: str) -> collections.Counter[str]:
    """How many runs each lease owner (``host:pid``) holds as running, read now."""
    with _store(database_url) as conn:
        owners = conn.execute(select(runs.c.lease_owner).where(runs.c.status == "running"))
        return collections.Counter(str(owner) for owner in owners.scalars())
