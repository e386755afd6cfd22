"""Helpers for the notebook tests: a kernel environment against the test cluster, checks of
executed notebooks' outputs, and a JupyterLab server run as a subprocess.

- :func:`prepare_kernel_env` writes everything a kernel needs to build on the test cluster: the
  registry secret ``regcred`` in the namespace, a connections catalog, a kernelspec that runs the
  project venv's Python, and the environment variables polymagic reads;
  :func:`write_kernel_env` the same without the secret, for kernels that need no cluster.
- :func:`output_problems` and friends look at a notebook's outputs the way a reader would.
- :class:`LabServer` starts ``jupyter lab`` from the venv and stops it (and its kernels) by PID;
  :func:`serve_notebook` runs one over a scratch copy of a notebook.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
VENV = REPO / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
VENV_JUPYTER = VENV / "bin" / "jupyter"
CHROMIUM = Path("/usr/bin/chromium")
# The kernelspec name the tests use. It shadows the stock ``python3`` so that a notebook whose
# metadata names ``python3`` (all of ours) runs in the project venv, in nbclient and in JupyterLab.
KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (polymagic .venv, test cluster)"

SECRET_NAME = "regcred"
REGISTRY_URL = "registry.example.com/org"
CATALOG: list[dict[str, Any]] = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": REGISTRY_URL},
        "secret": {"name": SECRET_NAME, "mountPath": "/kaniko/.docker"},
    }
]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
BUILD_MIME = "application/vnd.polymagic.build+json"

# polymagic's own deadlines in the kernel: shorter than a cell's timeout, so a stuck build fails
# with polymagic's message (naming the deadline) instead of an opaque nbclient CellTimeoutError.
CELL_TIMEOUT = 180
POLYMAGIC_DEADLINES = {
    "POLYMAGIC_TIMEOUT": "150",
    "POLYMAGIC_START_TIMEOUT": "90",
    "POLYMAGIC_STUCK_GRACE": "15",
}


@dataclass
class KernelEnv:
    """A prepared environment for kernels that build on the test cluster."""

    namespace: str
    kubeconfig: Path
    connections_file: Path
    jupyter_path: Path  # holds kernels/<KERNEL_NAME>/kernel.json
    home: Path  # scratch dir for this environment (config dirs, logs)
    environ: dict[str, str] = field(default_factory=dict)  # the kernel's full environment
    extra: dict[str, str] = field(default_factory=dict)  # what we add to os.environ

    @property
    def kernelspec_file(self) -> Path:
        return self.jupyter_path / "kernels" / KERNEL_NAME / "kernel.json"

    def describe(self) -> str:
        lines = [f"kernel environment (namespace {self.namespace}):"]
        lines += [f"  {k}={v}" for k, v in sorted(self.extra.items())]
        lines.append(f"  kernelspec {self.kernelspec_file}: {self.kernelspec_file.read_text()}")
        return "\n".join(lines)


def create_registry_secret(kubeconfig: Path, namespace: str, name: str = SECRET_NAME) -> None:
    """A ``kubernetes.io/dockerconfigjson`` secret as ``kubectl create secret docker-registry``."""
    from tests.cluster import admin

    config = json.dumps({"auths": {"registry.example.com": {"auth": "eDp5"}}}).encode()
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }
    admin.core(kubeconfig).create_namespaced_secret(namespace, body)


def write_kernelspec(jupyter_path: Path, env: Mapping[str, str]) -> Path:
    """A kernelspec running the project venv's Python with ``env`` (under ``kernels/``)."""
    folder = jupyter_path / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(VENV_PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "env": dict(env),
        "metadata": {"debugger": False},
    }
    path = folder / "kernel.json"
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path


def prepare_kernel_env(kubeconfig: Path, namespace: str, home: Path) -> KernelEnv:
    """The secret, the catalog, the kernelspec and the variables for a kernel (see module doc)."""
    create_registry_secret(kubeconfig, namespace)
    return write_kernel_env(kubeconfig, namespace, home)


def write_kernel_env(kubeconfig: Path, namespace: str, home: Path) -> KernelEnv:
    """The catalog, the kernelspec and the variables for a kernel, without touching a cluster
    (``kubeconfig`` need not exist: a kernel that only shows forms never reads it)."""
    home.mkdir(parents=True, exist_ok=True)
    catalog = home / "connections.yaml"
    catalog.write_text(yaml.safe_dump(CATALOG, sort_keys=False), encoding="utf-8")
    for sub in (
        "xdg-config",
        "ipython",
        "jupyter-config",
        "jupyter-data",
        "jupyter-runtime",
        "tmp",
    ):
        (home / sub).mkdir(exist_ok=True)
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    extra = {
        "KUBECONFIG": str(kubeconfig),
        "POLYMAGIC_CONNECTIONS": str(catalog),
        "POLYMAGIC_NAMESPACE": namespace,
        **POLYMAGIC_DEADLINES,
        "PYTHONPATH": pythonpath,
        # Nothing of the user's: no ~/.config/polymagic catalog, IPython profile or Jupyter config.
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "JUPYTER_PATH": str(home / "jupyter-path"),
        "JUPYTER_PLATFORM_DIRS": "1",
        # The build log files the progress widget keeps stay in the test's directory.
        "TMPDIR": str(home / "tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    jupyter_path = home / "jupyter-path"
    # The kernel gets the variables twice over: from the kernelspec (whatever starts it) and by
    # inheritance from the process that starts it.
    write_kernelspec(jupyter_path, {k: extra[k] for k in _KERNEL_VARIABLES})
    environ = {**os.environ, **extra}
    return KernelEnv(namespace, kubeconfig, catalog, jupyter_path, home, environ, extra)


_KERNEL_VARIABLES = (
    "KUBECONFIG",
    "POLYMAGIC_CONNECTIONS",
    "POLYMAGIC_NAMESPACE",
    *POLYMAGIC_DEADLINES,
    "PYTHONPATH",
    "XDG_CONFIG_HOME",
    "IPYTHONDIR",
    "TMPDIR",
)


# -- outputs ------------------------------------------------------------------------------------


def code_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def cell_source(cell: Any) -> str:
    src = cell.source
    return "".join(src) if isinstance(src, list) else str(src)


def output_text(output: Any, mime: str = "text/plain") -> str:
    """An output's text: a stream's text, or the ``mime`` entry of its data."""
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    if output.get("output_type") == "error":
        traceback = output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]
        return "\n".join(traceback)
    value = output.get("data", {}).get(mime, "")
    return "".join(value) if isinstance(value, list) else str(value)


def all_outputs(nb: Any) -> Iterator[tuple[int, Any, Any]]:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            yield index, cell, output


def error_outputs(nb: Any) -> list[str]:
    """Each error output, and each stderr stream holding a traceback, described in one line
    (except in cells tagged ``raises-exception``)."""
    found = []
    for index, cell, output in all_outputs(nb):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue  # an error the notebook shows on purpose (nbclient allows it too)
        kind = output.get("output_type")
        text = output_text(output)
        if kind == "error" or (
            kind == "stream" and output.get("name") == "stderr" and "Traceback" in text
        ):
            found.append(
                f"cell {index} ({cell_source(cell)[:60]!r}): {kind}: {strip_ansi(text)[-1500:]}"
            )
    return found


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def find_cell(nb: Any, source_prefix: str) -> tuple[int, Any]:
    """The first code cell whose source starts with ``source_prefix`` (after blank lines)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell_source(cell).lstrip().startswith(source_prefix):
            return index, cell
    sources = [cell_source(c).splitlines()[0] if cell_source(c) else "" for c in code_cells(nb)]
    raise AssertionError(f"no code cell starts with {source_prefix!r}; code cells: {sources}")


def widget_state(nb: Any) -> dict[str, Any]:
    """The widget models saved in the notebook's metadata (model id -> state), or ``{}``."""
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {})
    return dict(saved.get("state", {}))


def summarize(nb: Any, limit: int = 400) -> str:
    """Each code cell with its outputs (mimetypes and the start of their text), for messages."""
    lines = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines.append(f"[{index}] exec {cell.get('execution_count')}: {cell_source(cell)[:70]!r}")
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            mimes = sorted(output.get("data", {})) if "data" in output else [output.get("name", "")]
            text = strip_ansi(output_text(output)).strip()
            if kind != "error" and len(text) > limit:  # an error is shown whole
                text = text[:limit] + " [...]"
            text = text.replace("\n", "\n        ")
            lines.append(f"    {kind} {mimes}: {text}")
    return "\n".join(lines)


# -- free ports and logs --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, chars: int = 6000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return text if len(text) <= chars else "...\n" + text[-chars:]


def _children(pid: int) -> list[int]:
    """PIDs of the direct children of ``pid`` (kernels are started in their own sessions)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


# -- JupyterLab ------------------------------------------------------------------------------------


class LabServer:
    """``jupyter lab`` from the venv on 127.0.0.1, a free port and a token, as a subprocess.

    Its output goes to ``log_path``. :meth:`stop` asks the server to shut down (which shuts its
    kernels down), then signals the server's PID and any kernel it left, and is safe to repeat.
    """

    def __init__(self, root_dir: Path, env: KernelEnv, log_path: Path) -> None:
        self.root_dir = root_dir
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.kernel_pids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        config_dir = Path(self.env.extra["JUPYTER_CONFIG_DIR"])
        # No "receive Jupyter news?" toast over the notebook, and no update check.
        labconfig = config_dir / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )
        # Render every cell (no windowing), so the page holds all prompts and outputs at once.
        tracker = config_dir / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)
        (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        command = [
            str(VENV_JUPYTER),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=",
            "--KernelSpecManager.ensure_native_kernel=False",
            # no look-ups on PyPI from the extension manager
            "--LabApp.extension_manager=readonly",
        ]
        if os.geteuid() == 0:  # CI containers run as root; the server refuses that by default
            command.append("--allow-root")
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                command,
                cwd=self.root_dir,
                env=self.env.environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"jupyter lab exited with status {self.process.returncode} while starting:\n"
                    f"{self.logs()}"
                )
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self.api("GET", "/api/status") is not None:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"jupyter lab did not answer on {self.url} within {timeout:.0f}s:\n{self.logs()}"
                )
            time.sleep(0.3)

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read()
        return json.loads(data) if data else {}

    def remember_kernels(self) -> None:
        """Note the server's current child processes (its kernels), to end them if it cannot."""
        if self.process is not None and self.process.poll() is None:
            self.kernel_pids.update(_children(self.process.pid))

    def logs(self) -> str:
        return f"--- jupyter lab log ({self.log_path}) ---\n{tail(self.log_path)}"

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.remember_kernels()
        if process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self.api("POST", "/api/shutdown", timeout=5)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)  # the group we started it in
                    process.wait(timeout=10)
        for pid in sorted(self.kernel_pids):
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process = None


@contextlib.contextmanager
def serve_notebook(notebook: str, env: KernelEnv, workdir: Path) -> Iterator[LabServer]:
    """A started :class:`LabServer` whose root (under ``workdir``) holds a scratch copy of
    ``notebooks/<notebook>``; stopped afterwards, also on failure."""
    root = workdir / "lab-root"
    root.mkdir()
    shutil.copy(NOTEBOOKS / notebook, root / notebook)
    server = LabServer(root, env, workdir / "jupyter-lab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- expectations ---------------------------------------------------------------------------------

IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\b")


@dataclass(frozen=True)
class Expect:
    """What an executed notebook must show, cell by cell (cells named by how their source starts).

    - ``text``: substrings of the cell's ``text/plain`` (or stream) outputs;
    - ``widgets``: cells with a widget view output (``application/vnd.jupyter.widget-view+json``);
    - ``build_records``: cells with a build record output whose ``image`` has ``@sha256:``
      (and, if given, starts with the value);
    - ``patterns``: regular expressions searched in the cell's ``text/plain`` outputs;
    - ``record_image_in``: cells whose text output shows the image of the notebook's build record
      (``result.image`` prints what was pushed);
    - ``absent``: substrings that must not be in the cell's outputs (e.g. views ``--show none``
      hides);
    - ``ended``: build cells whose progress widget was replaced by the build's final state as
      static output (``text/html`` and ``text/plain``, no widget view left in the cell), whose
      HTML holds these substrings.
    """

    text: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    widgets: tuple[str, ...] = ()
    build_records: Mapping[str, str] = field(default_factory=dict)
    patterns: Mapping[str, str] = field(default_factory=dict)
    record_image_in: tuple[str, ...] = ()
    absent: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ended: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


FINAL_MARK = 'class="polymagic-final"'
"""What starts the static final state of a build in its ``text/html``."""


def final_states(cell: Any) -> list[str]:
    """The ``text/html`` of each static final state of a build in ``cell``'s outputs."""
    pages = [output_text(o, "text/html") for o in cell.get("outputs", [])]
    return [page for page in pages if FINAL_MARK in page]


def cell_texts(cell: Any) -> str:
    return "\n".join(strip_ansi(output_text(o)) for o in cell.get("outputs", []))


def build_records(cell: Any) -> list[dict[str, Any]]:
    records = []
    for output in cell.get("outputs", []):
        data = output.get("data", {}).get(BUILD_MIME)
        if data is not None:
            records.append(json.loads(data) if isinstance(data, str) else dict(data))
    return records


def check_notebook(nb: Any, expect: Expect) -> list[str]:
    """Every way ``nb`` falls short of ``expect`` (and of having no errors), in words."""
    problems = [f"error output: {e}" for e in error_outputs(nb)]
    for prefix, needles in expect.text.items():
        index, cell = find_cell(nb, prefix)
        text = cell_texts(cell)
        problems += [
            f"cell {index} ({prefix!r}) has no output with {n!r}" for n in needles if n not in text
        ]
    for prefix, needles in expect.absent.items():
        index, cell = find_cell(nb, prefix)
        text = cell_texts(cell)
        problems += [
            f"cell {index} ({prefix!r}) shows {n!r}, which it should not"
            for n in needles
            if n in text
        ]
    for prefix in expect.widgets:
        index, cell = find_cell(nb, prefix)
        if not any(WIDGET_MIME in o.get("data", {}) for o in cell.get("outputs", [])):
            problems.append(f"cell {index} ({prefix!r}) has no widget output ({WIDGET_MIME})")
    for prefix, needles in expect.ended.items():
        index, cell = find_cell(nb, prefix)
        pages = final_states(cell)
        if len(pages) != 1:
            problems.append(f"cell {index} ({prefix!r}) has {len(pages)} static final states")
        problems += [
            f"cell {index} ({prefix!r}): the final state does not show {n!r}"
            for n in needles
            if not any(n in page for page in pages)
        ]
        if any(WIDGET_MIME in o.get("data", {}) for o in cell.get("outputs", [])):
            problems.append(f"cell {index} ({prefix!r}) still has a widget view where it ended")
    images = []
    for prefix, start in expect.build_records.items():
        index, cell = find_cell(nb, prefix)
        records = build_records(cell)
        if not records:
            problems.append(f"cell {index} ({prefix!r}) has no build record output ({BUILD_MIME})")
        for record in records:
            image = str(record.get("image", ""))
            images.append(image)
            if not IMAGE_DIGEST.search(image) or not image.startswith(start):
                problems.append(
                    f"cell {index} ({prefix!r}): build record image {image!r} is not "
                    f"{start}...@sha256:<64 hex>"
                )
    for prefix, pattern in expect.patterns.items():
        index, cell = find_cell(nb, prefix)
        if not re.search(pattern, cell_texts(cell)):
            problems.append(f"cell {index} ({prefix!r}): no output matches /{pattern}/")
    for prefix in expect.record_image_in:
        index, cell = find_cell(nb, prefix)
        text = cell_texts(cell)
        if not images or not all(image in text for image in images):
            problems.append(f"cell {index} ({prefix!r}) does not show the built image {images}")
    return problems
