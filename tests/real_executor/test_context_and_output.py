"""What goes into a real build (local files through the ``tar://`` context, a user's own
multi-stage Dockerfile with build args and a target) and what comes out of one (hostile
RUN output, as the real executor relays it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polymagic.render.compiler import compile_operation
from polymagic.render.context import pack_build_context
from tests.cluster.simulated_node import SimulatedNode
from tests.fixtures.kaniko_logs import HOSTILE_RUN, MULTI_STAGE
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.real_executor.helpers import (
    catalog,
    leftovers,
    polymagic_build,
    seed_with_base,
    write_inputs,
)
from tests.real_executor.registry_view import MANIFEST_TYPES, RegistryView
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]


def test_copy_of_a_local_file_travels_in_the_tar_context(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    content = b"print('hello from the build context')\n"
    (tmp_path / "app.py").write_bytes(content)
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "context/app"
    init = op["runPatch"]["init"][0]["dockerfile"]
    init["copy"] = [["app.py", "/code/app.py"]]
    init["run"] = ["test -s /code/app.py && echo found the context file"]
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 0, done
    seen = sim_node.seen_pods[-1]
    assert seen.args["kaniko"].context.startswith("tar://")
    assert "found the context file" in seen.log_lines()
    image = RegistryView(plain_registry).image("context/app", "latest")
    assert image.all_files()["code/app.py"] == content
    assert leftovers(admin_kubeconfig, real_namespace) == []
    # The provenance names the archive the build sent, by its digest (packing is deterministic).
    packed = pack_build_context(compile_operation(op), tmp_path)
    assert packed is not None
    view = RegistryView(plain_registry)
    digest = view.digest("context/app", "latest") or ""
    tag = digest.replace(":", "-") + ".att"
    artifact = json.loads(view._get(f"/v2/context/app/manifests/{tag}", MANIFEST_TYPES)[0])
    statement = json.loads(view.blob("context/app", artifact["layers"][0]["digest"]))
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {"uri": "polymagic:build-context.tar.gz", "digest": {"sha256": packed.sha256}} in (
        dependencies
    )


def test_multi_stage_dockerfile_with_build_arg_and_target(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    base = plain_registry.image(BASE_REPOSITORY, BASE_TAG)
    op = {
        "version": 1,
        "kind": "operation",
        "name": "multi",
        "params": {"destination": {"connection": "docker-connection", "value": "multi/app"}},
        "runPatch": {
            "init": [{"file": {"filename": "Dockerfile", "content": MULTI_STAGE.format(base=base)}}]
        },
        "hubRef": "kaniko",
    }
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(
        admin_kubeconfig,
        inputs,
        real_namespace,
        "--build-arg",
        "GREETING=bonjour",
        "--target",
        "final",
    )
    assert done.returncode == 0, done
    files = RegistryView(plain_registry).image("multi/app", "latest").all_files()
    assert files["greeting.txt"] == b"bonjour from the builder\n"
    assert "debug.txt" not in files
    log = sim_node.seen_pods[-1].log_lines()
    assert "bonjour from the builder" in log  # `RUN cat` in the final stage
    assert not any("past the target" in line for line in log)
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_hostile_run_output_still_gives_the_digest(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "hostile/app"
    op["runPatch"]["init"][0]["dockerfile"]["run"] = [HOSTILE_RUN]
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    # The real executor relayed all of it, as printed (checked first: an xfail is polymagic's).
    raw = "\n".join(sim_node.seen_pods[-1].log_lines())
    assert "\x1b]0;owned\x07" in raw
    assert "\udcff\udcfe" in raw  # the invalid bytes, unchanged (surrogate-escaped here)
    assert '\n{"level":"info","msg":' + "[" * 20000 + "\n" in raw
    assert "x" * 65536 in raw
    assert done.returncode == 0, done
    assert "\x1b]0;owned" not in done.stderr  # polymagic's terminal output is not driven by it
    # polymagic read the whole log: the RUN step's own line with the bad bytes (not Kaniko's
    # echo of the command, which has the same words) and Kaniko's last line, the image push.
    shown = [line.strip() for line in done.stderr.splitlines()]
    assert any(line.startswith("not utf-8: ") for line in shown), done
    assert any(
        line.startswith("INFO[") and f"Pushed {plain_registry.host}/hostile/app@sha256:" in line
        for line in shown
    ), done
    digest = RegistryView(plain_registry).digest("hostile/app", "latest")
    assert done.last_line == f"{plain_registry.host}/hostile/app@{digest}"
    assert leftovers(admin_kubeconfig, real_namespace) == []
