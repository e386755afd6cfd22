"""A build the registry already holds, from the notebook, with the real executor: the second
``%%polybuild`` of one spec in a kernel says "reused" with when this kernel built the image, in
the progress widget, its static final state and the build record, never a duration of 0.0 s."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from polymagic.notebook.progress_widget import Outcome
from tests.notebook.kernel_env import BUILD_MIME, FINAL_MARK
from tests.notebook.test_magics_cluster import _magics
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.real_executor.helpers import seed_with_base
from tests.real_executor.registry_view import MANIFEST_TYPES, RegistryView
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor, pytest.mark.slow]


def _build(shell: InteractiveShell, out: str, op: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``%%polybuild`` on ``op``; the data of the outputs it displayed."""
    cell = f"%%polybuild --show none --out {out}\n" + yaml.safe_dump(op, sort_keys=False)
    with capture_output() as captured:
        result = shell.run_cell(cell)
    assert result.success, captured.stdout
    return [dict(o.data) for o in captured.outputs]


def test_a_build_reused_in_the_same_kernel_says_when_it_was_built(
    shell: InteractiveShell, plain_registry: RegistryServer, data_home: Path
) -> None:
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "notebook-reuse/app"
    first_outputs = _build(shell, "first", op)
    first = shell.user_ns["first"]
    assert not first.reused
    built = next(o[BUILD_MIME] for o in first_outputs if BUILD_MIME in o)
    assert built["reused"] is False

    outputs = _build(shell, "second", op)
    second = shell.user_ns["second"]
    assert second.reused, "the registry held the first build's image: no second build"
    assert second.digest == first.digest
    reused = f"reused — built {built['finished_at']} (no pod)"
    progress = _magics(shell).builds[second.name].progress
    assert progress.outcome is Outcome.SUCCEEDED
    assert progress.elapsed_label.value == reused
    ended = next(o for o in outputs if FINAL_MARK in o.get("text/html", ""))
    assert f"<strong>succeeded</strong>: {reused}" in ended["text/html"]
    assert ended["text/plain"].splitlines()[0].endswith(f": succeeded: {reused}")
    record = next(o for o in outputs if BUILD_MIME in o)
    assert record[BUILD_MIME]["reused"] is True
    assert record[BUILD_MIME]["built_at"] == built["finished_at"]
    assert record["text/plain"].endswith(f", {reused})")
    shown = ended["text/plain"] + ended["text/html"] + record["text/plain"] + record["text/html"]
    assert "0.0 s" not in shown
    # Where the SBOM and the provenance went: attached after the first build, found again after
    # the reuse; the statement names the cell it was built from.
    prefix = first.digest.replace(":", "-")
    where = f"{plain_registry.host}/notebook-reuse/app:{prefix}"
    attached = [o["text/plain"] for o in first_outputs if "attached the" in o.get("text/plain", "")]
    copies = data_home / "polymagic" / "attestations"
    assert attached[-1].splitlines() == [
        f"attached the SBOM as {where}.sbom (the tag scheme);"
        f" a copy in {copies / prefix}.sbom.cdx.json",
        f"attached the provenance as {where}.att (the tag scheme);"
        f" a copy in {copies / prefix}.provenance.intoto.json",
    ]
    again = [o["text/plain"] for o in outputs if "already attached" in o.get("text/plain", "")]
    assert f"the SBOM is already attached as {where}.sbom (the tag scheme)" in again[-1]
    view = RegistryView(plain_registry)
    body, _ = view._get(f"/v2/notebook-reuse/app/manifests/{prefix}.att", MANIFEST_TYPES)
    layer = json.loads(body)["layers"][0]["digest"]
    statement = json.loads(view.blob("notebook-reuse/app", layer))
    parameters = statement["predicate"]["buildDefinition"]["externalParameters"]
    cell = yaml.safe_dump(op, sort_keys=False)
    assert parameters["cellSha256"] == hashlib.sha256(cell.encode()).hexdigest()
