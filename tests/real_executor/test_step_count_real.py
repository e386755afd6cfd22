"""Step i/N as the real executor numbers its steps: a Dockerfile with a ``\\r`` (and an
erase-line sequence) inside a RUN, U+2028 and NEL inside another, continuations (one with a
comment and an empty line inside) and a multi-line ``env`` value that adds an instruction."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polymagic.render.dockerfile import render_dockerfile
from polymagic.spec.loader import load_dockerfile_init
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.helpers import (
    catalog,
    leftovers,
    op_running,
    polymagic_build,
    summary_steps,
    write_inputs,
)
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

RUN = [
    "echo one # \r\x1b[2KRUN echo two",
    "echo sep\u2028arated\x85end",
    "echo three \\\n  && echo four",
    "echo five \\\n# a comment inside the continuation\n\n  && echo six",
]
ENV = {"GREETING": "hello\nRUN echo injected by a value"}
# Kaniko echoes each instruction it runs as an INFO line: `INFO[0001] RUN echo ...`.
_ECHOED = re.compile(
    r"^(?:\x1b\[36m)?INFO(?:\x1b\[0m)?\[[^\]]*\] "
    r"(?:RUN|ENV|WORKDIR|COPY|ADD|USER|LABEL|ARG|EXPOSE|VOLUME|CMD|ENTRYPOINT|SHELL)[\t\v\f\r ]"
)
_PROGRESS = re.compile(r"^polymagic: \[(?:\d+\.\d s|\d\d:\d\d)\] step (\d+)/(\d+): ", re.MULTILINE)
_SUMMARY_TOTAL = re.compile(r"^polymagic: \[\d+/(\d+)\] ", re.MULTILINE)


def test_step_count_is_the_executors_own(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    op = op_running(plain_registry, "steps/app", RUN)
    op["runPatch"]["init"][0]["dockerfile"]["env"] = ENV
    dockerfile = render_dockerfile(load_dockerfile_init(op["runPatch"]["init"][0]["dockerfile"]))
    # What Python's splitlines would have made of it: more lines than the executor reads.
    assert len(dockerfile.splitlines()) > len(dockerfile.split("\n"))
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))

    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)

    assert done.returncode == 0, done
    log = sim_node.seen_pods[-1].log_lines()
    echoed = [line for line in log if _ECHOED.match(line)]
    executor_steps = len(echoed)
    totals = {int(m.group(2)) for m in _PROGRESS.finditer(done.stderr)}
    totals |= {int(m.group(1)) for m in _SUMMARY_TOTAL.finditer(done.stderr)}
    assert totals == {executor_steps}, (echoed, done)
    # Every step was seen starting, in the executor's order, each as one step.
    started = [int(m.group(1)) for m in _PROGRESS.finditer(done.stderr)]
    assert started == list(range(1, executor_steps + 1)), done
    shown = [name for name, _ in summary_steps(done.stderr)]
    assert len(shown) == executor_steps
    assert shown[-4].startswith("RUN echo one # \\x0d\\x1b[2KRUN echo two"), shown
    assert "RUN echo injected by a value" in shown
    assert leftovers(admin_kubeconfig, real_namespace) == []
