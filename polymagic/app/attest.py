"""``--attest``: after a build has pushed its image, the exact SBOM of the pushed image
(``polymagic.app.sbom_command``) and the build's provenance (``polymagic.outcome.provenance``)
attached next to it in the registry, under the tag scheme cosign uses (``sha256-<hex>.sbom``,
``sha256-<hex>.att``), each an OCI artifact whose ``subject`` is the image.

The client writes them with the local docker config's credentials, so it needs push access to
the repository itself (the pod pushed with the connection's secret); anything that fails here
is a warning after a successful build, never a failed build.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polymagic.outcome.result import BuildResult
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.options import BuildOptions

__all__ = ["ATTEST", "attest_build", "now_text"]

ATTEST: tuple[tuple[str, ...], dict[str, Any]] = (
    ("--attest",),
    {
        "action": "store_true",
        "help": "after the push, attach the image's SBOM and the build's provenance to it",
    },
)
_IN_TOTO = "application/vnd.in-toto+json"
_EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def now_text() -> str:
    """Now, as an RFC 3339 UTC time."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _operation(build: CompiledBuild) -> dict[str, Any]:
    try:
        return dict(build.operation.to_polyaxon())
    except Exception:  # a model that cannot be dumped: its name still says what was built
        return {"name": build.name}


def attest_build(
    result: BuildResult, build: CompiledBuild, options: BuildOptions, started: str, finished: str
) -> list[str]:
    """Attach the SBOM and the provenance of ``result``'s image; what happened, one line each."""
    from polymagic.app.freeze_command import kernel_imports
    from polymagic.app.sbom_command import attach_sbom, image_sbom
    from polymagic.errors import PolymagicError
    from polymagic.outcome.provenance import provenance_statement, statement_json
    from polymagic.registry import ImageReference
    from polymagic.registry.repository_access import RegistryError
    from polymagic.render.annotations import base_image_of
    from polymagic.render.executor_args import insecure_registries

    reference = ImageReference.parse(result.image)
    insecure = reference.host in {*options.kaniko.insecure_registries, *insecure_registries(build)}
    args = argparse.Namespace(
        image=f"{reference.name}@{result.digest}",
        insecure=insecure,
        skip_tls_verify=reference.host in options.kaniko.skip_tls_verify_registries,
        ca_file=None,
        registry_timeout=300.0,
    )
    lines: list[str] = []
    try:
        dockerfile = build.dockerfiles[0].text if build.dockerfiles else None
        sbom = image_sbom(args, imported=kernel_imports(dockerfile, options.context_dir))
        lines.append(f"attached the SBOM as {attach_sbom(sbom, args)}")
        lines += [f"warning: SBOM: {warning}" for warning in sbom.warnings]
    except (PolymagicError, RegistryError) as error:
        lines.append(f"warning: no SBOM attached: {error}")
        sbom = None
    text = build.dockerfiles[0].text if build.dockerfiles else None
    provenance = options.kaniko.provenance
    statement = provenance_statement(
        image=reference.name,
        digest=result.digest,
        operation=_operation(build),
        spec_hash=result.spec_hash,
        dockerfile_sha256=hashlib.sha256(text.encode()).hexdigest() if text else None,
        base=base_image_of(text) if text else None,
        base_digest=provenance.base_digest if provenance is not None else None,
        executor_image=result.executor_image,
        context_sha256=None,
        namespace=result.namespace,
        pod=result.pod_name,
        started=started,
        finished=finished,
    )
    try:
        where = attach_artifact(
            args, sbom.manifest_media_type if sbom else "", sbom.manifest_size if sbom else 0,
            result.digest, statement_json(statement), _IN_TOTO, ".att",
        )  # fmt: skip
        lines.append(f"attached the provenance as {where}")
    except (PolymagicError, RegistryError) as error:
        lines.append(f"warning: no provenance attached: {error}")
    return lines


def attach_artifact(
    args: argparse.Namespace,
    subject_type: str,
    subject_size: int,
    digest: str,
    body: bytes,
    artifact_type: str,
    suffix: str,
) -> str:
    """Push ``body`` as an artifact about ``digest`` under ``sha256-<hex><suffix>``."""
    from polymagic.app.base_digest import local_auth
    from polymagic.registry import ImageReference
    from polymagic.registry.repository_access import RepositoryAccess

    reference = ImageReference.parse(args.image)
    options = {
        "insecure": bool(args.insecure),
        "skip_tls_verify": bool(args.skip_tls_verify),
        "ca_file": args.ca_file,
        "timeout": float(args.registry_timeout),
    }
    with RepositoryAccess(reference, auth=local_auth(reference.host), **options) as access:
        empty = access.upload_blob(b"{}")
        layer = access.upload_blob(body)
        manifest = {
            "schemaVersion": 2,
            "mediaType": _MANIFEST_TYPE,
            "artifactType": artifact_type,
            "config": {"mediaType": _EMPTY_TYPE, "digest": empty, "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": layer, "size": len(body)}],
            "subject": {
                "mediaType": subject_type or _MANIFEST_TYPE,
                "digest": digest,
                "size": subject_size,
            },
        }
        tag = digest.replace(":", "-") + suffix
        access.put_manifest(tag, _MANIFEST_TYPE, json.dumps(manifest, sort_keys=True).encode())
    return f"{reference.name}:{tag}"
