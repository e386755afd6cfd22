"""Record the API traffic under ``tests/fixtures/api-traffic/`` again, from the real test cluster.

    python -m tests.replay.record              # every scenario
    python -m tests.replay.record -k cancel    # more pytest arguments narrow it

Runs the cluster tests of ``tests/test_build_cluster.py`` with ``POLYMAGIC_RECORD_API_TRAFFIC=1``:
each test that names a scenario and passes writes its tape. Never run by CI (the tapes are golden
data, changed only on request); review the diff of the tapes before committing them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: Sequence[str]) -> int:
    env = {**os.environ, "POLYMAGIC_RECORD_API_TRAFFIC": "1"}
    command = [sys.executable, "-m", "pytest", "tests/test_build_cluster.py", "-m", "cluster"]
    return subprocess.call([*command, "-p", "no:cacheprovider", *argv], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
