"""Fail if line or branch coverage is below its floor in pyproject.toml (``[tool.unsync.coverage-floor]``).

coverage.py's own ``fail_under`` checks one figure that mixes lines and
branches; this checks each.  Run after ``coverage combine``, as
``python tests/coverage_floor.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def main() -> int:
    floors = tomllib.loads(PYPROJECT.read_text())["tool"]["unsync"]["coverage-floor"]
    report = subprocess.run(
        [sys.executable, "-m", "coverage", "json", "--quiet", "-o", "-"], capture_output=True, text=True, check=True
    )
    totals = json.loads(report.stdout)["totals"]
    measured = {
        "lines": 100 * totals["covered_lines"] / totals["num_statements"],
        "branches": 100 * totals["covered_branches"] / totals["num_branches"],
    }
    below = [
        f"{kind} {measured[kind]:.1f}% < {floors[kind]}%"
        for kind in ("lines", "branches")
        if measured[kind] < floors[kind]
    ]
    print(f"coverage: lines {measured['lines']:.1f}%, branches {measured['branches']:.1f}%", flush=True)
    if below:
        print("below the floor: " + ", ".join(below), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
