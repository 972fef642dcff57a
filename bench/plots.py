"""PNG plots of the benchmarks' raw figures, written beside their JSON in ``bench/out/``.

matplotlib is imported inside each function (the ``Agg`` backend, no display), so a script
that plots nothing does not pay for it. ``docs/img/`` holds the copies the docs embed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import OUT

if TYPE_CHECKING:
    from loadgen import Load


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def delivery_curve(name: str, title: str, load: Load, arrivals: Mapping[int, float]) -> Path:
    """Events answered (accepted) and events delivered against seconds since the first send."""
    plt = _pyplot()
    t0 = load.started
    accepted = sorted(r.done - t0 for r in load.results if r.status == 200)
    delivered = sorted(t - t0 for t in arrivals.values())
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(accepted, range(1, len(accepted) + 1), label="accepted (run/event answered)")
    ax.plot(delivered, range(1, len(delivered) + 1), label="delivered to the receiver")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("events")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, name)


def latency(name: str, series: Mapping[str, Sequence[float]], targets: Sequence[float]) -> Path:
    """Histogram and CDF of latencies (milliseconds), one line per label."""
    plt = _pyplot()
    import numpy as np

    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    every = [v for values in series.values() for v in values if v > 0]
    bins = np.logspace(np.log10(min(every or [1])), np.log10(max(every or [10])), 80)
    for label, values in series.items():
        ordered = sorted(values)
        if not ordered:
            continue
        hist.hist(ordered, bins=bins, alpha=0.55, label=label)
        cdf.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label)
    for target in targets:
        cdf.axvline(target, color="grey", linestyle=":", linewidth=1)
    hist.set_xlabel("run/event due -> POST received (ms, log)")
    hist.set_ylabel("events")
    hist.set_xscale("log")
    cdf.set_xscale("log")
    cdf.set_xlabel("ms (log); dotted: targets")
    cdf.set_ylabel("fraction of events")
    for ax in (hist, cdf):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Latency, open loop")
    return _save(fig, name)


def timeline(
    name: str,
    title: str,
    ylabel: str,
    points: Sequence[tuple[float, float]],
    limit: float | None = None,
    marks: Mapping[str, float] | None = None,
) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    if points:
        t0 = points[0][0]
        ax.plot([t - t0 for t, _ in points], [v for _, v in points])
        for i, (label, at) in enumerate((marks or {}).items()):
            low, high = ax.get_ylim()
            ax.axvline(at - t0, color="grey", linestyle="--", linewidth=1)
            y = low + (high - low) * (0.5 - 0.1 * i)
            ax.text(at - t0, y, f" {label}", fontsize=8, va="top", rotation=90, ha="right")
    if limit is not None:
        ax.axhline(limit, color="red", linestyle=":", label=f"target {limit:g}")
        ax.legend()
    ax.set_xlabel("seconds")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, name)


def _save(fig: Any, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
