"""Failures point at the executor options that help: an out-of-memory build also offers
``--compressed-caching=false`` (and ``--single-snapshot`` when the Dockerfile has many RUN
steps), a registry's 429 offers ``--registry-mirror``, an immutable tag offers
``--push-ignore-immutable-tag-errors`` or a new tag. The error lines are the executor's own
words (go-containerregistry's registry errors; the immutable-tag sentences the executor itself
recognises)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from polymagic.errors import BuildFailed
from polymagic.outcome.pod_reading import executor_fix
from polymagic.outcome.pod_state import PodStateMachine
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.render.options import BuildOptions
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED


def _manifests(run_steps: int) -> Any:
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["run"] = [f"echo {i}" for i in range(run_steps)]
    build = compile_operation(op, connections=load_connections(REGISTRY))
    return build_manifests(build, namespace="ml")


def _out_of_memory_fix(run_steps: int) -> str:
    manifests = _manifests(run_steps)
    machine = PodStateMachine(manifests, BuildOptions(), started=0.0)
    pod = copy.deepcopy(manifests.pod)
    pod["spec"]["containers"][0].setdefault("resources", {})["limits"] = {"memory": "1Gi"}
    state = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    pod["status"] = {"phase": "Failed", "containerStatuses": [{"name": "kaniko", "state": state}]}
    failed = machine.outcome(pod)
    assert isinstance(failed, BuildFailed)
    return failed.fix


@pytest.mark.parametrize(("steps", "single"), [(2, False), (6, True)], ids=["few", "many"])
def test_out_of_memory_offers_the_options_that_make_kaniko_use_less(
    steps: int, single: bool
) -> None:
    fix = _out_of_memory_fix(steps)
    assert fix.startswith("the executor may use at most 1Gi of memory: give it more")
    assert "Kaniko itself needs less with `--compressed-caching=false`" in fix
    assert ("`--single-snapshot` takes one snapshot instead of one per step" in fix) is single
    if single:
        assert f"({steps} RUN steps here)" in fix


def test_a_registry_rate_limit_offers_a_mirror() -> None:
    line = (
        "error building image: unable to complete operation after 0 attempts, last error: GET"
        " https://index.docker.io/v2/library/python/manifests/3.12-slim: TOOMANYREQUESTS: You"
        " have reached your pull rate limit. You may increase the limit by authenticating and"
        " upgrading: https://www.docker.com/increase-rate-limit"
    )
    fix = executor_fix(line, _manifests(1))
    assert fix.startswith("`index.docker.io` refused for now: too many requests (429)")
    assert "`--registry-mirror HOST` (or the registry_mirror setting" in fix


@pytest.mark.parametrize(
    "said",
    [
        "The repository has enabled tag immutability",
        "The image tag 'latest' already exists in the 'org/app' repository and cannot be"
        " overwritten because the tag is immutable.",
    ],
    ids=["artifact-registry", "ecr"],
)
def test_an_immutable_tag_offers_the_option_or_a_new_tag(said: str) -> None:
    manifests = _manifests(1)
    line = (
        "error pushing image: failed to push to destination"
        f" {manifests.destinations[0]}: PUT https://registry.example.com/v2/org/app/manifests/"
        f"latest: TAG_INVALID: {said}"
    )
    fix = executor_fix(line, manifests)
    assert fix.startswith(f"the registry does not let `{manifests.destinations[0]}` be overwritten")
    assert "`--push-ignore-immutable-tag-errors`" in fix


def test_other_errors_get_no_option_fix() -> None:
    line = "error building image: error building stage: failed to execute command: exit status 3"
    assert executor_fix(line, _manifests(1)) == ""
