"""What every build attaches after its push (setting ``attest``, on by default; ``--no-attest``
turns it off): the exact SBOM of the pushed image (``polymagic.app.sbom_command``) and the
build's provenance (``polymagic.outcome.provenance``), each an OCI artifact whose ``subject``
is the image, attached as an OCI referrer where the registry serves the referrers API, else
under the tag scheme cosign uses (``polymagic.registry.referrers``).

Both front ends call :func:`attest_result` once the build has succeeded. The client writes
with the destination connection's Secret (else the local docker config's credentials);
anything that fails here is a warning after a successful build, never a failed build. A reused
image (already in the registry) gets only what it does not already carry. Each document is also
written to :func:`attestations_folder`, named by the image's digest
(``sha256-<hex>.sbom.cdx.json``, ``sha256-<hex>.provenance.intoto.json``), so nothing is lost
when the registry refuses it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polymagic.kube.api import Cluster
    from polymagic.outcome.result import BuildResult
    from polymagic.registry import RegistryAuth
    from polymagic.registry.referrers import Attached, Subject
    from polymagic.registry.repository_access import RepositoryAccess
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.options import BuildOptions

__all__ = [
    "IN_TOTO",
    "PROBE_TIMEOUT",
    "attest_result",
    "attestations_folder",
    "destination_auth",
    "keep_copy",
    "now_text",
    "registry_args",
]

IN_TOTO = "application/vnd.in-toto+json"
_SBOM_TYPE = "application/vnd.cyclonedx+json"
PROBE_TIMEOUT = 15.0
"""Seconds the registry has to answer the first question (the pushed image's manifest)."""


def now_text() -> str:
    """Now, as an RFC 3339 UTC time."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _operation(build: CompiledBuild) -> dict[str, Any]:
    try:
        return dict(build.operation.to_polyaxon())
    except Exception:  # a model that cannot be dumped: its name still says what was built
        return {"name": build.name}


def destination_auth(
    cluster: Cluster, build: CompiledBuild, result: BuildResult
) -> RegistryAuth | None:
    """The credentials the destination connection's Secret holds for the pushed image's
    registry (what the build pushed with); None when there is no Secret or it cannot be read."""
    from polymagic.errors import PolymagicError
    from polymagic.kube.reuse import destination_secret, secret_auth
    from polymagic.registry import ImageReference

    secret = destination_secret(build)
    if secret is None:
        return None
    try:
        host = ImageReference.parse(result.image).host
        return secret_auth(cluster, result.namespace, secret, host)
    except PolymagicError:  # no credentials: the local ones are tried, and a refusal is a warning
        return None


def registry_args(image: str, build: CompiledBuild, options: BuildOptions) -> argparse.Namespace:
    """How the client reaches ``image``'s registry: over plain HTTP or without verifying TLS
    where the build's executor options say so."""
    from polymagic.registry import ImageReference
    from polymagic.render.executor_args import insecure_registries

    reference = ImageReference.parse(image)
    insecure = reference.host in {*options.kaniko.insecure_registries, *insecure_registries(build)}
    return argparse.Namespace(
        image=image,
        insecure=insecure,
        skip_tls_verify=reference.host in options.kaniko.skip_tls_verify_registries,
        ca_file=None,
        registry_timeout=300.0,
    )


def attest_result(
    result: BuildResult,
    build: CompiledBuild,
    options: BuildOptions,
    *,
    started: str,
    finished: str,
    auth: RegistryAuth | None = None,
) -> list[str]:
    """Attach the SBOM and the provenance of ``result``'s image, unless ``options.attest`` is
    off; what happened, one line each (a line starting ``warning:`` when something could not
    be done). Never raises for what the registry answers.

    ``auth`` is what the registry is written with (:func:`destination_auth`: the destination
    connection's Secret, what the image was pushed with); without it, the local docker
    config's credentials for that registry."""
    from polymagic.app.base_digest import local_auth
    from polymagic.app.sbom_command import access_options
    from polymagic.registry import ImageReference
    from polymagic.registry.repository_access import RegistryError, RepositoryAccess

    if not options.attest:
        return []
    reference = ImageReference.parse(result.image)
    args = registry_args(f"{reference.name}@{result.digest}", build, options)
    image = ImageReference.parse(args.image)
    auth = auth or local_auth(reference.host)
    job = _Job(result, build, options, started, finished)
    try:
        # A short first question, so that a registry that cannot answer costs seconds.
        with RepositoryAccess(
            image, auth=auth, **access_options(args, most=PROBE_TIMEOUT)
        ) as probe:
            subject = _subject(probe, result.digest)
        with RepositoryAccess(image, auth=auth, **access_options(args)) as access:
            return _attest(access, args, subject, job, auth)
    except RegistryError as error:
        return [f"warning: no SBOM or provenance attached: {error}"]
    except Exception as error:  # the image is pushed and fine: whatever broke here is a warning
        return [f"warning: no SBOM or provenance attached ({type(error).__name__}: {error})"]


@dataclass(frozen=True)
class _Job:
    """The build whose image is attested, and when it ran."""

    result: BuildResult
    build: CompiledBuild
    options: BuildOptions
    started: str
    finished: str


def _attest(
    access: RepositoryAccess,
    args: argparse.Namespace,
    subject: Subject,
    job: _Job,
    auth: RegistryAuth | None,
) -> list[str]:
    from polymagic.registry.referrers import find_artifact, referrers_supported

    result, options = job.result, job.options

    supported = referrers_supported(access, result.digest)
    lines: list[str] = []
    made: list[Attached] = []
    wanted = {"SBOM": (_SBOM_TYPE, ".sbom"), "provenance": (IN_TOTO, ".att")}
    if result.reused:
        for what, (kind, suffix) in list(wanted.items()):
            there = find_artifact(access, result.digest, kind, suffix)
            if there is not None:
                lines.append(f"the {what} is already attached as {there}")
                del wanted[what]
    if "SBOM" in wanted:
        from polymagic.app.freeze_command import kernel_imports

        build = job.build
        dockerfile = build.dockerfiles[0].text if build.dockerfiles else None
        imported = kernel_imports(dockerfile, options.context_dir)
        lines += _attach_sbom(access, (args, auth), subject, supported, made, imported)
    if "provenance" in wanted:
        statement = _statement(job)
        lines += _attach(
            access, subject, (statement, IN_TOTO, ".att"), supported, "provenance", made
        )
    if options.sign_key:
        from polymagic.app.signing import sign_digests

        name = access.ref.name
        signed = [f"{name}@{result.digest}", *(f"{name}@{a.digest}" for a in made if a.digest)]
        lines += sign_digests(options.sign_key, signed, insecure=bool(args.insecure))
    return lines


def _subject(access: RepositoryAccess, digest: str) -> Subject:
    from polymagic.registry import ImageReference, read_manifest
    from polymagic.registry.referrers import Subject
    from polymagic.registry.repository_access import RegistryError

    ref = access.ref
    answer = read_manifest(
        ImageReference(ref.host, ref.repository, digest=digest),
        auth=access.auth,
        transport=access.session.transport,
        insecure=access.session.insecure,
    )
    if answer.manifest is None:
        raise RegistryError(f"the pushed image's manifest cannot be read: {answer.reason}")
    return Subject(digest, answer.manifest.media_type, len(answer.manifest.body))


def _attach(
    access: RepositoryAccess,
    subject: Subject,
    document: tuple[bytes, str, str],
    supported: bool,
    what: str,
    made: list[Attached],
) -> list[str]:
    """Attach ``document`` (its bytes, artifact type and tag suffix); add it to ``made``."""
    from polymagic.registry.referrers import attach_artifact
    from polymagic.registry.repository_access import RegistryError

    body, kind, suffix = document
    kept, copy = keep_copy(subject.digest, suffix, body)
    try:
        where = attach_artifact(access, subject, body, kind, suffix, referrers=supported)
    except RegistryError as error:
        return [f"warning: no {what} attached: {error}", kept]
    made.append(where)
    if copy:
        return [f"attached the {what} as {where}; {kept}"]
    return [f"attached the {what} as {where}", kept]


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_COPY_NAMES = {".sbom": "sbom.cdx.json", ".att": "provenance.intoto.json"}


def attestations_folder() -> Path:
    """Where every build's SBOM and provenance are also written:
    ``$XDG_DATA_HOME/polymagic/attestations`` (default ``~/.local/share/polymagic/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "polymagic" / "attestations"


def keep_copy(digest: str, suffix: str, body: bytes) -> tuple[str, bool]:
    """Write ``body`` as ``<folder>/sha256-<hex>.<name>``; the line that says where (or a
    warning line), and whether it was written."""
    from polymagic.printable import printable

    if _DIGEST.fullmatch(digest) is None:  # never a path from what a registry answered
        return f"warning: no copy written: {printable(digest[:80])} is not a sha256 digest", False
    path = attestations_folder() / f"{digest.replace(':', '-')}.{_COPY_NAMES[suffix]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)
    except OSError as error:
        return f"warning: no copy written to {printable(str(path))}: {error.strerror}", False
    return f"a copy in {printable(str(path))}", True


def _attach_sbom(
    access: RepositoryAccess,
    image: tuple[argparse.Namespace, RegistryAuth | None],
    subject: Subject,
    supported: bool,
    made: list[Attached],
    imported: Collection[str] = (),
) -> list[str]:
    from polymagic.app.sbom_command import image_sbom
    from polymagic.errors import PolymagicError
    from polymagic.registry.repository_access import RegistryError

    try:
        sbom = image_sbom(*image, imported=imported)
    except (PolymagicError, RegistryError) as error:
        return [f"warning: no SBOM attached: {error}"]
    document = (sbom.body, _SBOM_TYPE, ".sbom")
    lines = _attach(access, subject, document, supported, "SBOM", made)
    return lines + [f"warning: SBOM: {warning}" for warning in sbom.warnings]


def _statement(job: _Job) -> bytes:
    from polymagic.outcome.provenance import provenance_statement, statement_json
    from polymagic.registry import ImageReference
    from polymagic.render.annotations import base_image_of

    result, build, options = job.result, job.build, job.options
    text = build.dockerfiles[0].text if build.dockerfiles else None
    provenance = options.kaniko.provenance
    statement = provenance_statement(
        image=ImageReference.parse(result.image).name,
        digest=result.digest,
        operation=_operation(build),
        spec_hash=result.spec_hash,
        dockerfile_sha256=hashlib.sha256(text.encode()).hexdigest() if text else None,
        base=base_image_of(text) if text else None,
        base_digest=provenance.base_digest if provenance is not None else None,
        executor_image=result.executor_image,
        context_sha256=result.context_sha256,
        namespace=result.namespace,
        pod=result.pod_name,
        started=job.started,
        finished=job.finished,
        executor_digest=result.executor_digest,
        built_from=dict(options.built_from),
    )
    return statement_json(statement)
