"""``make demo``'s scenario, as a user runs it: real processes, real sockets, one line a step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.flows import EXAMPLES


def test_demo_walks_the_whole_quick_start(tmp_path: Path, database_url: str) -> None:
    args = [sys.executable, "-m", "solder", "demo", "--workdir", str(tmp_path / "demo")]
    args += ["--examples", str(EXAMPLES), "--database-url", database_url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    steps = [int(m.group(1)) for line in lines if (m := re.match(r"\[\s*(\d+)\]", line))]
    assert steps == list(range(1, 11)), lines
    text = done.stdout
    assert "2 workflows released" in text
    assert "signature verified=True" in text
    assert "is now 'Shipped'" in text
    assert "#1: 1 run(s) [succeeded], 0 errors; #2: 1 run(s) [succeeded], 0 errors" in text
    assert lines[-2].startswith("demo finished")
    assert "examples/acme/README.md" in lines[-1]  # where to go next
    # everything the demo started was stopped: nothing is left listening in its logs' names
    assert not list((tmp_path / "demo").glob("*.pid"))
