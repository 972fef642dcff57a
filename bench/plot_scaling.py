"""Throughput against worker processes (1, 2, 4) in the scaled-out mode, from the JSON results.

Reads ``bench/out/e2e-pg-w<N>*.json`` (and ``fanout-pg-w<N>*.json`` when present), plots
events/s delivered and accepted against N, with the embedded SQLite figures
(``bench/out/e2e[-rN].json``) as reference lines, and writes ``bench/out/scaling.png`` and a
table. With ``--run`` it first runs ``bench/e2e.py --worker-processes N`` for each N
(PostgreSQL on 127.0.0.1:5432, RabbitMQ on 127.0.0.1:5672 and ``solder worker`` are needed).

    .venv/bin/python bench/plot_scaling.py --run --workers 1 2 4
    .venv/bin/python bench/plot_scaling.py            # plot what bench/out/ holds
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
FIGURES = {
    "e2e": [("end_to_end_per_s", "delivered"), ("accept_per_s", "accepted")],
    "fanout": [("delivered_per_s", "delivered")],
}
Series = tuple[dict[int, list[float]], list[float]]


def collect(name: str, key: str) -> Series:
    """Figures by worker-process count, and the embedded (SQLite) figures."""
    scaled: dict[int, list[float]] = {}
    embedded: list[float] = []
    for path in sorted(OUT.glob(f"{name}*.json")):
        result: dict[str, Any] = json.loads(path.read_text())
        value = result.get(key)
        if result.get("benchmark") != name or value is None or "error" in result:
            continue
        n = result.get("setup", {}).get("worker_processes", 0)
        if n:
            scaled.setdefault(int(n), []).append(float(value))
        elif re.fullmatch(rf"{name}(-r\d+)?", path.stem):
            embedded.append(float(value))
    return scaled, embedded


def plot(series: dict[str, Series]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for label, (scaled, embedded) in series.items():
        if not scaled:
            continue  # an embedded figure alone has nothing to scale against
        color = next(colors)
        ns = sorted(scaled)
        ax.plot(ns, [statistics.median(scaled[n]) for n in ns], marker="o", color=color,
                label=f"{label}: PostgreSQL + broker")  # fmt: skip
        if embedded:
            ax.axhline(statistics.median(embedded), linestyle=":", color=color,
                       label=f"{label}: embedded SQLite, 1 process")  # fmt: skip
    ax.axhline(500, color="red", linestyle="--", linewidth=1, label="target 500/s delivered")
    ax.set_xlabel("solder worker processes")
    ax.set_ylabel("events/s")
    ax.set_xticks(sorted({n for scaled, _ in series.values() for n in scaled}) or [1, 2, 4])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Throughput against worker processes")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "scaling.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", action="store_true", help="run e2e.py for each --workers first")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--events", type=int, default=3000)
    args = ap.parse_args()
    if args.run:
        for n in args.workers:
            cmd = [sys.executable, str(BENCH / "e2e.py"), "--events", str(args.events),
                   "--worker-processes", str(n)]  # fmt: skip
            if subprocess.run(cmd, check=False).returncode != 0:
                sys.stderr.write(f"e2e with {n} worker processes failed; see its JSON\n")
    series = {
        f"{name} {what}": collect(name, key)
        for name, figures in FIGURES.items()
        for key, what in figures
    }
    if not any(scaled for scaled, _ in series.values()):
        sys.stderr.write("no scaled-out results in bench/out/ (run with --run)\n")
    for label, (scaled, embedded) in series.items():
        for n in sorted(scaled):
            print(f"{label}\t{n} worker processes\t{statistics.median(scaled[n]):.1f}/s")
        if embedded:
            print(f"{label}\tembedded SQLite\t{statistics.median(embedded):.1f}/s")
    print(plot(series))
    return 0


if __name__ == "__main__":
    sys.exit(main())
