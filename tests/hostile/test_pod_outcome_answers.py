"""What the cluster says about a stopped build (an eviction message, a memory limit) and the
amounts a user gives (``--memory``) are read within the bound, however long or crafted."""

from __future__ import annotations

import pytest

from tests.hostile.bounded import run_bounded

# A terminated pod as the API server would show it, with the hostile part put in by the test.
POD = """
import json
from polymagic.outcome.pod_reading import build_status
from polymagic.outcome.pod_state import PodStateMachine
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.render.options import BuildOptions
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED
manifests = build_manifests(compile_operation(SEED, connections=load_connections(REGISTRY)))
machine = PodStateMachine(manifests, BuildOptions(), started=0.0)
machine.log_ended(0.0)
pod = json.loads(json.dumps(manifests.pod))
pod["spec"]["containers"][0]["resources"] = {{"limits": {{"memory": {limit}}}}}
state = {{"terminated": {{"exitCode": 137, "reason": {container_reason!r}}}}}
pod["status"] = {{"phase": "Failed", "reason": {pod_reason!r}, "message": {message},
                 "containerStatuses": [{{"name": "kaniko", "state": state}}]}}
failed = machine.outcome(pod)
print(len(str(failed)), build_status(pod).detail[:80])
"""

CASES = {
    "a 20 MB eviction message": ("Evicted", "Error", "'low on resource: ' + 'a.' * 10_000_000", "'1Gi'"),
    "an eviction message of whitespace": ("Evicted", "Error", "' \\t\\n' * 5_000_000 + 'x'", "'1Gi'"),
    "an eviction message of controls": ("Evicted", "Error", "'\\x1b]0;' * 3_000_000", "'1Gi'"),
    "a 10 MB memory limit": ("", "OOMKilled", "''", "'9' * 10_000_000 + 'Ei'"),
    "a limit with a huge exponent": ("", "OOMKilled", "''", "'1e' + '9' * 1_000_000"),
}  # fmt: skip


@pytest.mark.parametrize(("pod_reason", "container_reason", "message", "limit"), CASES.values(),
                         ids=CASES.keys())  # fmt: skip
def test_a_hostile_stopped_pod_is_read_in_time(
    pod_reason: str, container_reason: str, message: str, limit: str
) -> None:
    code = POD.format(
        pod_reason=pod_reason, container_reason=container_reason, message=message, limit=limit
    )
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
    assert result.seconds < 5, result.explain()
    length = int(result.stdout.split()[0])
    assert length < 4000, result.stdout[:200]  # summary and fix stay short whatever was read


@pytest.mark.parametrize(
    "amount",
    [
        "'9' * 50_000_000 + 'Gi'",
        "'1' + 'e9' * 1_000_000",
        "'.' + '5' * 20_000_000",
        "'+' * 10_000_000",
    ],
)
def test_a_hostile_memory_amount_is_refused_in_time(amount: str) -> None:
    code = (
        "from polymagic.render.quantities import quantity_value\n"
        "from polymagic.render.build_objects import KanikoOptions\n"
        "from polymagic.errors import SpecError\n"
        f"assert quantity_value({amount}) is None\n"
        "try:\n"
        f"    KanikoOptions(resources={{'limits': {{'memory': {amount}}}}})\n"
        "except SpecError as exc:\n"
        "    print(len(str(exc)))\n"
    )
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
    assert result.seconds < 5, result.explain()
    assert int(result.stdout) < 300  # the amount is quoted cut, not whole
