"""Record the API traffic under ``tests/fixtures/api-traffic/`` again, from the real test cluster.

    python -m tests.replay.record              # every scenario
    python -m tests.replay.record -k cancel    # more pytest arguments narrow it

Runs the cluster tests of ``tests/test_build_cluster.py`` with ``--record-api-traffic`` (an
option of the root conftest, so no exported variable can make another run rewrite the tapes):
each test that names a scenario and passes writes its tape. Never run by CI (the tapes are golden
data, changed only on request); review the diff of the tapes before committing them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: Sequence[str]) -> int:
    command = [sys.executable, "-m", "pytest", "tests/test_build_cluster.py", "-m", "cluster"]
    options = ["--record-api-traffic", "-p", "no:cacheprovider"]
    return subprocess.call([*command, *options, *argv], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
