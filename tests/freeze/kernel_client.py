"""A Jupyter kernel of the freeze venv, driven as a notebook front end would drive it."""

from __future__ import annotations

import json
import os
import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.freeze.kernel_venv import FreezeKernel, ensure_freeze_kernel


@dataclass
class Executed:
    """What one cell did: its outputs by mimetype, stdout, payloads and error."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    stdout: str = ""
    next_input: str | None = None
    error: str | None = None


class Kernel:
    """A kernel of the freeze venv, started in ``workdir``."""

    def __init__(self, kernel: FreezeKernel, workdir: Path, home: Path) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        specs = home / "kernels"
        (specs / "freeze-venv").mkdir(parents=True, exist_ok=True)
        (specs / "freeze-venv" / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [
                        str(kernel.python),
                        "-m",
                        "ipykernel_launcher",
                        "-f",
                        "{connection_file}",
                    ],
                    "display_name": "freeze venv",
                    "language": "python",
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "KUBE"))}
        env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "PYTHONPATH": ""})
        self.manager = KernelManager(
            kernel_name="freeze-venv",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]),
        )
        self.manager.start_kernel(cwd=str(workdir), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 120) -> Executed:
        msg_id = self.client.execute(code)
        done = Executed()
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no reply to {code!r} within {timeout}s") from None
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind in ("display_data", "execute_result"):
                done.texts.append(content["data"].get("text/plain", ""))
                done.htmls.append(content["data"].get("text/html", ""))
            elif kind == "stream":
                done.stdout += content["text"]
            elif kind == "error":
                done.error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            # A late kernel_info reply of wait_for_ready, or an earlier cell's: not this one's.
            reply = self.client.get_shell_msg(timeout=timeout)
        for payload in reply["content"].get("payload", []):
            if payload.get("source") == "set_next_input":
                done.next_input = payload["text"]
        return done

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def venv() -> FreezeKernel:
    return ensure_freeze_kernel()


@pytest.fixture
def kernel(venv: FreezeKernel, tmp_path: Path) -> Iterator[Kernel]:
    (tmp_path / "work").mkdir()
    started = Kernel(venv, tmp_path / "work", tmp_path / "home")
    try:
        loaded = started.run("%load_ext polymagic")
        assert loaded.error is None, loaded.error
        yield started
    finally:
        started.close()
