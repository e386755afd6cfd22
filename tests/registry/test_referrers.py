"""Attaching the SBOM and the provenance as OCI 1.1 referrers where the registry serves the
referrers API, else by cosign's tag scheme, and finding them again both ways.

Debian's registry (no referrers API) decides the tag path; the referrers path runs against the
same registry behind :class:`tests.registry.referrers_proxy.ReferrersProxy`, which adds the API
and stores nothing itself. Before this change every attachment went under the tag, whatever
the registry supported."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from polymagic.app.attest import attest_result
from polymagic.cli.main import main
from polymagic.outcome.result import BuildResult
from polymagic.render.build_objects import KanikoOptions
from polymagic.render.compiler import compile_operation
from polymagic.render.options import BuildOptions
from polymagic.spec.examples import QUICK_START
from tests.real_executor.registry_view import MANIFEST_TYPES, RegistryView
from tests.registry.referrers_proxy import ReferrersProxy
from tests.registry.server import RegistryServer, push_test_image

pytestmark = [pytest.mark.registry]

STARTED, FINISHED = "2026-12-07T15:00:00Z", "2026-12-07T15:01:00Z"


@pytest.fixture
def proxy(http_registry: RegistryServer) -> Iterator[ReferrersProxy]:
    with ReferrersProxy(http_registry) as front:
        yield front


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _inspected(image: str) -> dict[str, object]:
    code, out, err = _run("inspect", image, "--insecure", "-o", "json")
    assert code == 0, err
    shown: dict[str, object] = json.loads(out)
    return shown


def test_sbom_attach_takes_the_referrers_path_where_the_registry_serves_it(
    http_registry: RegistryServer, proxy: ReferrersProxy, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "v1")
    tag = digest.replace(":", "-") + ".sbom"
    # Through the front that serves the referrers API: pushed by digest, no tag.
    code, _, err = _run("sbom", f"{proxy.host}/{repository}:v1", "--insecure", "--attach")
    assert code == 0, err
    assert "(an OCI referrer)" in err
    assert tag not in RegistryView(http_registry).tags(repository)
    [(key, [descriptor])] = proxy.referrers.items()
    assert key == (repository, digest)
    assert descriptor["artifactType"] == "application/vnd.cyclonedx+json"
    assert f"{proxy.host}/{repository}@{descriptor['digest']}" in err
    shown = _inspected(f"{proxy.host}/{repository}:v1")
    assert shown["sbom"] == {
        "reference": f"{proxy.host}/{repository}@{descriptor['digest']}",
        "attached": True,
        "way": "an OCI referrer",
        "components": shown["sbom"]["components"],  # type: ignore[index]
        "subjectIsThisImage": True,
        "note": None,
    }
    # Straight to Debian's registry: its referrers answer is a 404, so the tag scheme.
    assert _inspected(http_registry.image(repository, "v1"))["sbom"]["attached"] is False  # type: ignore[index]
    code, _, err = _run("sbom", http_registry.image(repository, "v1"), "--insecure", "--attach")
    assert code == 0, err
    assert f"{http_registry.host}/{repository}:{tag} (the tag scheme)" in err
    assert tag in RegistryView(http_registry).tags(repository)
    direct = _inspected(http_registry.image(repository, "v1"))["sbom"]
    assert direct["way"] == "the tag scheme"  # type: ignore[index]
    assert direct["subjectIsThisImage"] is True  # type: ignore[index]


def _result(host: str, repository: str, digest: str, *, reused: bool = False) -> BuildResult:
    return BuildResult(
        name="b",
        namespace="ns",
        image=f"{host}/{repository}:v1@{digest}",
        digest=digest,
        tags=(),
        duration=1.0,
        pod_name="" if reused else "b",
        spec_hash="0" * 64,
        executor_image="gcr.io/kaniko-project/executor:v1.23.2",
        log_tail=(),
        reused=reused,
        context_sha256="ab" * 32,
        executor_digest="sha256:" + "cd" * 32,
    )


def test_a_build_attaches_both_as_referrers_and_a_reuse_adds_only_what_is_missing(
    http_registry: RegistryServer, proxy: ReferrersProxy, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "v1")
    build = compile_operation(QUICK_START)
    options = BuildOptions(
        kaniko=KanikoOptions(insecure_registries=(proxy.host, http_registry.host)),
        built_from=(("notebook", "work/demo.ipynb"), ("cellSha256", "ef" * 32)),
    )
    lines = attest_result(
        _result(proxy.host, repository, digest), build, options, started=STARTED, finished=FINISHED
    )
    assert [line.split(" as ")[0] for line in lines] == [
        "attached the SBOM",
        "attached the provenance",
    ], lines
    assert all(line.split(";")[0].endswith("(an OCI referrer)") for line in lines), lines
    shown = _inspected(f"{proxy.host}/{repository}:v1")
    assert shown["provenance"]["way"] == "an OCI referrer"  # type: ignore[index]
    assert shown["provenance"]["subjectIsThisImage"] is True  # type: ignore[index]
    # What the statement says it was built from.
    [statement_ref] = [
        d["digest"]
        for d in proxy.referrers[(repository, digest)]
        if d["artifactType"] == "application/vnd.in-toto+json"
    ]
    view = RegistryView(http_registry)
    path = f"/v2/{repository}/manifests/{statement_ref}"
    artifact = json.loads(view._get(path, MANIFEST_TYPES)[0])
    statement = json.loads(view.blob(repository, artifact["layers"][0]["digest"]))
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["notebook"] == "work/demo.ipynb"
    assert definition["externalParameters"]["cellSha256"] == "ef" * 32
    dependencies = definition["resolvedDependencies"]
    assert {"uri": "polymagic:build-context.tar.gz", "digest": {"sha256": "ab" * 32}} in (
        dependencies
    )
    assert {
        "uri": "docker://gcr.io/kaniko-project/executor:v1.23.2",
        "digest": {"sha256": "cd" * 32},
    } in dependencies
    # A reuse of the same image finds both and attaches nothing again.
    count = len(proxy.referrers[(repository, digest)])
    again = attest_result(
        _result(proxy.host, repository, digest, reused=True),
        build,
        options,
        started=STARTED,
        finished=FINISHED,
    )
    assert [line.split(" as ")[0] for line in again] == [
        "the SBOM is already attached",
        "the provenance is already attached",
    ], again
    assert len(proxy.referrers[(repository, digest)]) == count
    # Reused where only the tag scheme is, and nothing is attached yet: both are attached.
    direct = attest_result(
        _result(http_registry.host, repository, digest, reused=True),
        build,
        options,
        started=STARTED,
        finished=FINISHED,
    )
    assert all(line.split(";")[0].endswith("(the tag scheme)") for line in direct), direct
    # Turned off, nothing is asked of the registry at all.
    off = replace(options, attest=False)
    assert (
        attest_result(
            _result(proxy.host, repository, digest), build, off, started=STARTED, finished=FINISHED
        )
        == []
    )


def test_a_registry_that_cannot_be_reached_is_a_warning_not_a_failure(closed_port: str) -> None:
    build = compile_operation(QUICK_START)
    options = BuildOptions(kaniko=KanikoOptions(insecure_registries=(closed_port,)))
    result = _result(closed_port, "tests/gone", "sha256:" + "1" * 64)
    lines = attest_result(result, build, options, started="t0", finished="t1")
    assert len(lines) == 1
    assert lines[0].startswith("warning: no SBOM or provenance attached:"), lines
