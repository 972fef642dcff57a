"""Where the time goes: summarise a py-spy ``--format raw`` profile (collapsed stacks).

Prints four tables, each as a share of all samples: the thread, the leaf frame's package (who
burns the CPU), the functions with the most samples on the stack (inclusive: what the time is spent
for), and the leaf functions (self time). Record one with any benchmark's ``--profile``:

    .venv/bin/python bench/e2e.py --events 3000 --profile bench/out/e2e.raw
    .venv/bin/python bench/profile_top.py bench/out/e2e.raw --top 25
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+)(?::\d+)?\)$")

# a leaf frame's file (first match wins) -> the part of the stack it belongs to
AREAS = [
    ("sqlalchemy/", "SQLAlchemy"),
    ("sqlite3/", "sqlite3 driver (incl. fsync)"),
    ("psycopg", "psycopg"),
    ("fastapi/", "FastAPI"),
    ("starlette/", "Starlette"),
    ("pydantic", "pydantic"),
    ("uvicorn/", "uvicorn"),
    ("h11/", "h11 (HTTP parsing)"),
    ("anyio/", "anyio (threadpool hand-off)"),
    ("asyncio/", "asyncio"),
    ("jsonata", "jsonata (mapping)"),
    ("jsonschema", "jsonschema (event validation)"),
    ("cryptography/", "cryptography (signature)"),
    ("httpx2/", "httpx2 (outbound)"),
    ("httpcore", "httpcore (outbound)"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("threading.py", "threading (locks, waits)"),
    ("queue.py", "queue"),
    ("socket.py", "socket"),
    ("ssl.py", "ssl"),
    ("solder/", "solder's own code"),
]


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    """``(thread name, frames outermost first, samples)`` per collapsed stack."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        parts = frames.split(";")
        thread = next((p for p in parts if p.startswith("thread ")), "thread ?")
        name = re.sub(r"\d+", "N", thread.split(": ", 1)[-1]) if ": " in thread else "?"
        parts = [f for f in parts if not f.startswith(("process ", "thread "))]
        stacks.append((name, parts, int(count)))
    return stacks


def area(frame: str) -> str:
    m = FRAME.match(frame)
    file = m.group("file") if m else frame
    return next((name for key, name in AREAS if key in file), "other: " + file.rsplit("/", 1)[-1])


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({file})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("profile", type=Path)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--solder-only", action="store_true", help="inclusive: solder frames only")
    args = ap.parse_args()
    stacks = parse(args.profile)
    total = sum(n for *_, n in stacks)
    if not total:
        sys.stderr.write("no samples\n")
        return 1
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for thread, frames, n in stacks:
        threads[thread] += n
        if not frames:
            continue
        areas[area(frames[-1])] += n
        leaves[short(frames[-1])] += n
        for frame in {short(f) for f in frames}:
            if not args.solder_only or frame.split("(", 1)[-1].startswith("solder/"):
                inclusive[frame] += n
    print(f"{total} samples (threads holding the GIL)")
    for title, counter in (
        ("by thread (digits folded)", threads),
        ("by package of the leaf frame", areas),
        ("inclusive (on the stack)", inclusive),
        ("self (leaf)", leaves),
    ):
        print(f"\n## {title}")
        for name, n in counter.most_common(args.top):
            print(f"{100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
