"""The exact SBOM of a real pushed image: the real executor builds on busybox a layer holding a
Python distribution's METADATA and a dpkg status; ``polymagic sbom`` reads the pushed layers
back from Debian's registry in byte ranges and lists both with their versions and purls, the
base image from the image's own annotations; ``--attach`` pushes it under
``sha256-<hex>.sbom`` as an artifact whose subject is the image's digest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from polymagic.registry import ImageReference
from polymagic.registry.repository_access import RepositoryAccess
from tests.real_executor.helpers import catalog, op_running, polymagic_build, write_inputs
from tests.real_executor.registry_view import MANIFEST_TYPES, RegistryView
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

SITE = "/usr/local/lib/python3.11/site-packages/demo_pkg-1.2.3.dist-info"
RUN = [
    f"mkdir -p {SITE} /var/lib/dpkg && printf 'Metadata-Version: 2.1\\nName: demo_pkg\\n"
    f"Version: 1.2.3\\nLicense-Expression: MIT\\n\\n' > {SITE}/METADATA",
    "printf 'Package: tzdata\\nStatus: install ok installed\\nArchitecture: all\\n"
    "Version: 2024a-0+deb12u1\\n' > /var/lib/dpkg/status",
]


def test_the_sbom_of_a_real_image_lists_what_the_build_installed(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    op = op_running(plain_registry, "sbom/app", RUN)
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    built = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert built.returncode == 0, built
    view = RegistryView(plain_registry)
    digest = view.digest("sbom/app", "latest")
    assert digest is not None
    image = f"{plain_registry.host}/sbom/app:latest"
    argv = [sys.executable, "-m", "polymagic", "sbom", image, "--insecure", "--attach"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["component"]["version"] == digest
    purls = {c.get("purl") for c in document["components"]}
    assert "pkg:pypi/demo-pkg@1.2.3" in purls
    assert "pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all" in purls
    base = document["components"][0]
    assert base["name"] == plain_registry.image("base/busybox", "1")
    assert base["version"] == view.digest("base/busybox", "1")
    # Attached under cosign's tag scheme, its subject the image.
    tag = digest.replace(":", "-") + ".sbom"
    assert tag in view.tags("sbom/app")
    body, _ = view._get(f"/v2/sbom/app/manifests/{tag}", MANIFEST_TYPES)
    artifact = json.loads(body)
    assert artifact["subject"]["digest"] == digest
    assert artifact["artifactType"] == "application/vnd.cyclonedx+json"
    attached = json.loads(view.blob("sbom/app", artifact["layers"][0]["digest"]))
    assert attached == document
    # `polymagic inspect` finds it and checks that it is about this image ...
    inspected = _inspect(image)
    assert inspected.returncode == 0, inspected.stderr
    shown = json.loads(inspected.stdout)["sbom"]
    assert shown["subjectIsThisImage"] is True
    assert shown["components"] == len(document["components"])
    # ... and says so when a tampered one (its subject changed) is put in its place.
    artifact["subject"]["digest"] = "sha256:" + "0" * 64
    reference = ImageReference.parse(f"{plain_registry.host}/sbom/app:{tag}")
    with RepositoryAccess(reference, auth=None, insecure=True, timeout=30) as access:
        access.put_manifest(tag, artifact["mediaType"], json.dumps(artifact).encode())
    tampered = _inspect(image)
    assert tampered.returncode == 1
    assert json.loads(tampered.stdout)["sbom"]["subjectIsThisImage"] is False
    assert "is not about it" in tampered.stderr


def _inspect(image: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "polymagic", "inspect", image, "--insecure", "-o", "json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_every_build_attaches_the_sbom_and_a_provenance_statement_about_the_pushed_image(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    data_home: Path,
) -> None:
    """On by default (before: only with --attest); Debian's registry has no referrers API, so
    the tag scheme; a reused build finds both and attaches nothing again; --no-attest none."""
    op = op_running(plain_registry, "attested/app", RUN)
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    off = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--no-attest", "--no-hash-tag")
    assert off.returncode == 0, off
    assert "attest: no SBOM or provenance attached (from option --no-attest)" in off.stderr
    assert "attached the SBOM" not in off.stderr
    assert not [t for t in RegistryView(plain_registry).tags("attested/app") if "sha256-" in t]
    built = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert built.returncode == 0, built
    assert "attest: after the push, the image's SBOM and provenance are attached" in built.stderr
    view = RegistryView(plain_registry)
    digest = view.digest("attested/app", "latest")
    assert digest is not None
    prefix = digest.replace(":", "-")
    assert f"attached the SBOM as {plain_registry.host}/attested/app:{prefix}.sbom" in built.stderr
    assert f"attached the provenance as {plain_registry.host}/attested/app:{prefix}.att" in (
        built.stderr
    )
    body, _ = view._get(f"/v2/attested/app/manifests/{prefix}.att", MANIFEST_TYPES)
    artifact = json.loads(body)
    assert artifact["subject"]["digest"] == digest
    layer = artifact["layers"][0]["digest"]
    statement = json.loads(view.blob("attested/app", layer))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [
        {"name": f"{plain_registry.host}/attested/app", "digest": {"sha256": digest[7:]}}
    ]
    definition = statement["predicate"]["buildDefinition"]
    base_digest = view.digest("base/busybox", "1") or ""
    assert {"uri": f"docker://{plain_registry.image('base/busybox', '1')}",
            "digest": {"sha256": base_digest[7:]}} in definition["resolvedDependencies"]  # fmt: skip
    assert definition["externalParameters"]["operation"]["kind"] == "operation"
    # The executor as the kubelet ran it: its digest from the pod's imageID.
    [executor] = [d for d in definition["resolvedDependencies"] if "kaniko" in d["uri"]]
    assert len(executor["digest"].get("sha256", "")) == 64, executor
    run = statement["predicate"]["runDetails"]
    assert run["metadata"]["startedOn"] <= run["metadata"]["finishedOn"]
    sbom_body, _ = view._get(f"/v2/attested/app/manifests/{prefix}.sbom", MANIFEST_TYPES)
    assert json.loads(sbom_body)["subject"]["digest"] == digest
    # Each document is also written locally, named by the image's digest, byte for byte what
    # was attached (the session's XDG_DATA_HOME stands in for the user's).
    copies = data_home / "polymagic" / "attestations"
    sbom_layer = json.loads(sbom_body)["layers"][0]["digest"]
    for name, blob in (
        (f"{prefix}.sbom.cdx.json", sbom_layer),
        (f"{prefix}.provenance.intoto.json", layer),
    ):
        assert f"a copy in {copies / name}" in built.stderr
        assert (copies / name).read_bytes() == view.blob("attested/app", blob), name
    # `polymagic inspect` finds both and checks that each is about this image.
    inspected = _inspect(f"{plain_registry.host}/attested/app:latest")
    assert inspected.returncode == 0, inspected.stderr
    shown = json.loads(inspected.stdout)
    assert shown["sbom"]["subjectIsThisImage"] is True
    assert shown["provenance"]["subjectIsThisImage"] is True
    # Built again: the registry holds this spec's image; both are there already.
    again = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert again.returncode == 0, again
    assert "reused" in again.stderr.lower(), again.stderr
    assert f"the SBOM is already attached as {plain_registry.host}/attested/app:{prefix}.sbom" in (
        again.stderr
    )
    assert "the provenance is already attached" in again.stderr
