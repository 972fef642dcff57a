"""The whole suite, one command: every workload in turn, then a table of figures and targets.

Each benchmark runs as its own process (``bench/<name>.py``), the short ones ``--repeat``
times; results go to ``bench/out/<name>-r<i>.json``, the table to stdout and to
``bench/out/summary.md``, everything to ``bench/out/summary.json``. A workload whose process
fails is reported as such and the suite goes on.

    .venv/bin/python bench/run_all.py                 # SQLite, embedded (about 35 minutes)
    .venv/bin/python bench/run_all.py --quick         # smaller sizes, a smoke test
    .venv/bin/python bench/run_all.py --only e2e latency
    .venv/bin/python bench/run_all.py --worker-processes 2   # scaled out (PostgreSQL + broker)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"

# name -> (arguments, arguments with --quick, repeated?)
SUITE: dict[str, tuple[list[str], list[str], bool]] = {
    "ingest": (["--events", "5000"], ["--events", "1000"], True),
    "e2e": (["--events", "3000"], ["--events", "500"], True),
    "latency": ([], ["--seconds", "5", "2"], True),
    "blocks": (["--runs", "300", "--rounds", "2"], ["--runs", "50", "--rounds", "1"], True),
    "fanout": ([], ["--installations", "500"], False),
    "memory": ([], ["--installations", "500", "--events", "500"], False),
}
EMBEDDED_ONLY = {"ingest", "blocks"}


def run_one(name: str, argv: list[str], tag: str) -> dict[str, Any]:
    out = OUT / f"{name}-{tag}.json"
    cmd = [sys.executable, str(BENCH / f"{name}.py"), *argv, "--tag", tag, "--out", str(out)]
    sys.stderr.write(f"$ {' '.join(cmd[1:])}\n")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.exists():
        result: dict[str, Any] = json.loads(out.read_text())
        if done.returncode != 0 and "error" not in result:
            result["error"] = f"exit {done.returncode}"
        return result
    return {"benchmark": name, "error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    rows = [
        "| workload | figure | measured (each run) | target | verdict | others' CPU (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            rows.append(f"| {name} | (failed) | {errors[0][:120]} | | NOT MEASURED | |")
        checks: dict[str, list[dict[str, Any]]] = {}
        for r in runs:
            for c in r.get("checks", []):
                checks.setdefault(c["metric"], []).append(c)
        for metric, cs in checks.items():
            values = " / ".join("-" if c["value"] is None else f"{c['value']:g}" for c in cs)
            met = [c["met"] for c in cs]
            verdict = "MET" if all(met) else "NOT MET" if not any(met) else "MET in some runs"
            busy = " / ".join(_busy(r) for r in runs if "error" not in r)
            rows.append(
                f"| {name} | {metric} | {values} | {cs[0]['target']} | {verdict} | {busy} |"
            )
    return "\n".join(rows)


def _busy(result: dict[str, Any]) -> str:
    """Mean cores other processes used during the run (the machine may be shared)."""
    value = result.get("other_processes", {}).get("cpu_cores_mean")
    return "-" if value is None else f"{value:g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=list(SUITE), default=list(SUITE))
    ap.add_argument("--repeat", type=int, default=2, help="runs of each short workload")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker-processes", type=int, default=0)
    ap.add_argument("--engine-workers", type=int, default=4)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    common = ["--engine-workers", str(args.engine_workers)]
    prefix = ""
    if args.worker_processes:
        common += ["--worker-processes", str(args.worker_processes)]
        prefix = f"pg-w{args.worker_processes}-"
    results: dict[str, list[dict[str, Any]]] = {}
    for name in args.only:
        if args.worker_processes and name in EMBEDDED_ONLY:
            continue
        full, quick, repeated = SUITE[name]
        argv = (quick if args.quick else full) + common
        times = args.repeat if repeated else 1
        results[name] = [run_one(name, argv, f"{prefix}r{i + 1}") for i in range(times)]
    text = table(results)
    (OUT / "summary.md").write_text(text + "\n")
    (OUT / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    return 0 if all("error" not in r for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
