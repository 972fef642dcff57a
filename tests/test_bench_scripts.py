"""The benchmark scripts still load against the current code (they are not run by the tests).

A moved function once left every script in ``bench/`` failing at import. Each script is run
here with ``--help``, as from the repository root; each library module of the harness is
imported with ``bench/`` on the path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_loads(script: str) -> None:
    path = BENCH / script
    if '__name__ == "__main__"' in path.read_text():
        done = run(str(path), "--help")
        assert done.returncode == 0, done.stderr[-2000:]
        assert "usage:" in done.stdout
    else:
        done = run("-c", f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {path.stem}")
        assert done.returncode == 0, done.stderr[-2000:]
