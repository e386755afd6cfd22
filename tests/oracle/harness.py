"""Test-side harness for the Polyaxon oracle (imported by our pytest tests).

Owns the throwaway virtualenv that holds the REAL ``polyaxon==2.18.0`` package and
the subprocess protocol with ``polyaxon_side.py``. Our own interpreter never imports
polyaxon: cases go to the venv's interpreter as JSON on stdin, results come back as
JSON on stdout.

Public API:

* ``oracle_python()`` -> path of the venv's interpreter. The venv lives at
  ``$POLYMAGIC_ORACLE_VENV`` (default ``~/.cache/polymagic/oracle-polyaxon-2.18.0``), is
  built once under an ``fcntl`` lock (safe with parallel pytest processes) and then
  recognised by a marker file, so later calls and processes do no pip work.
* ``run_oracle(cases)`` -> one result per case, in order, from ONE subprocess call.
  A case is ``{"kind": "dockerfile", "body": {...}}`` or ``{"kind": "compile", "op":
  "<YAML>", "params": ["name=value"], "connections": [...], "component": {...}}``
  (optional ``strictParams``, ``artifactsStore``); a result is ``{"ok": value}`` or
  ``{"error": "<Polyaxon's message>"}``. See ``polyaxon_side.py`` for the details.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

POLYAXON_VERSION = "2.18.0"
VENV_ENV_VAR = "POLYMAGIC_ORACLE_VENV"
DEFAULT_VENV = Path("~/.cache/polymagic") / f"oracle-polyaxon-{POLYAXON_VERSION}"
MARKER_NAME = ".polymagic-oracle-ready"
SIDE_SCRIPT = Path(__file__).resolve().with_name("polyaxon_side.py")

INSTALL_TIMEOUT_S = 1800
BATCH_TIMEOUT_S = 900


class OracleError(RuntimeError):
    """The oracle venv could not be built or the oracle process failed as a whole."""


def oracle_venv_dir() -> Path:
    """Where the oracle venv lives (``$POLYMAGIC_ORACLE_VENV`` or the default)."""
    configured = os.environ.get(VENV_ENV_VAR) or str(DEFAULT_VENV)
    return Path(configured).expanduser().absolute()


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _marker_content() -> str:
    return json.dumps({"polyaxon": POLYAXON_VERSION}, sort_keys=True)


def _is_ready(venv: Path) -> bool:
    marker = venv / MARKER_NAME
    try:
        return (
            marker.read_text(encoding="utf-8") == _marker_content() and _venv_python(venv).exists()
        )
    except OSError:
        return False


def _clean_env(**extra: str) -> dict[str, str]:
    """Our environment without Python or Polyaxon settings that could leak in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POLYAXON_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(extra)
    return env


def _run_step(command: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OracleError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise OracleError(f"{what} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def _build(venv: Path) -> None:
    # A venv left half-built by an interrupted run is completed, never deleted; any
    # other non-empty directory is not ours to touch.
    if venv.exists() and any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
        raise OracleError(f"{venv} exists and is not a virtualenv; set {VENV_ENV_VAR} elsewhere")
    _run_step([sys.executable, "-m", "venv", str(venv)], "creating the venv", 300)
    python = str(_venv_python(venv))
    _run_step(
        [python, "-m", "pip", "install", "--no-input", f"polyaxon=={POLYAXON_VERSION}"],
        f"pip install polyaxon=={POLYAXON_VERSION}",
        INSTALL_TIMEOUT_S,
    )
    check = (
        "import importlib.metadata as m, polyaxon, polyaxon._polyaxonfile;"
        f"assert m.version('polyaxon') == {POLYAXON_VERSION!r}, m.version('polyaxon')"
    )
    _run_step([python, "-I", "-c", check], "importing polyaxon in the venv", 300)
    (venv / MARKER_NAME).write_text(_marker_content(), encoding="utf-8")


@functools.cache
def _oracle_python_for(venv: Path) -> Path:
    if not _is_ready(venv):
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock_path = venv.parent / f".{venv.name}.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not _is_ready(venv):  # another process may have built it meanwhile
                    _build(venv)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return _venv_python(venv)


def oracle_python() -> Path:
    """The oracle venv's interpreter, building the venv first if needed."""
    return _oracle_python_for(oracle_venv_dir())


def _check_result(index: int, result: Any) -> dict[str, Any]:
    if (
        not isinstance(result, dict)
        or len(result) != 1
        or not ("ok" in result or isinstance(result.get("error"), str))
    ):
        raise OracleError(f"oracle result {index} is malformed: {result!r}")
    return result


def run_oracle(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run every case through the real Polyaxon in one subprocess; results in order."""
    if not cases:
        return []
    python = oracle_python()
    payload = json.dumps(cases)
    with tempfile.TemporaryDirectory(prefix="polymagic-oracle-") as workdir:
        env = _clean_env(POLYAXON_HOME=workdir, POLYAXON_NO_CONFIG="true")
        try:
            done = subprocess.run(
                # -I: no script dir on sys.path, no PYTHON* variables, no user site.
                [str(python), "-I", str(SIDE_SCRIPT)],
                input=payload,
                capture_output=True,
                text=True,
                timeout=BATCH_TIMEOUT_S,
                cwd=workdir,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OracleError(f"the oracle process failed: {exc}") from exc
    if done.returncode != 0:
        raise OracleError(f"the oracle process exited with {done.returncode}:\n{done.stderr}")
    try:
        results = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise OracleError(
            f"the oracle answered no JSON ({exc}):\n{done.stdout[:2000]}\n{done.stderr[-2000:]}"
        ) from exc
    if not isinstance(results, list) or len(results) != len(cases):
        raise OracleError(f"the oracle answered {type(results).__name__} for {len(cases)} cases")
    return [_check_result(i, result) for i, result in enumerate(results)]
