"""For an image polymagic already knows by digest: read its manifest (its media type and size)
and make tags point at it, by PUTting the manifest's own bytes under each tag that points
elsewhere (Docker Registry HTTP API v2). Never pushes blobs, never deletes; never raises for I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from polymagic.errors import SpecError
from polymagic.printable import printable
from polymagic.registry.answer import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST,
    ImageManifest,
    ManifestAnswer,
    Outcome,
    error_code,
    served_manifest,
)
from polymagic.registry.auth import AuthSession
from polymagic.registry.credentials import RegistryAuth, redact
from polymagic.registry.opening import over_transport
from polymagic.registry.reference import ImageReference
from polymagic.registry.transport import (
    Request,
    Response,
    Transport,
    Unreachable,
    manifest_url,
)

__all__ = ["read_manifest", "tag_manifest"]


def read_manifest(
    reference: str | ImageReference,
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 10,
    transport: Transport | None = None,
) -> ManifestAnswer:
    """The manifest of ``reference`` (``host/repository@sha256:...``); never raises for I/O.

    The body must hash to the digest asked for. Credentials, TLS, the one deadline and
    ``transport`` work as in :func:`~polymagic.registry.check.check_image`."""
    return tag_manifest(
        reference,
        (),
        auth=auth,
        insecure=insecure,
        skip_tls_verify=skip_tls_verify,
        ca_file=ca_file,
        timeout=timeout,
        transport=transport,
    )


def tag_manifest(
    reference: str | ImageReference,
    tags: Sequence[str | ImageReference],
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 10,
    transport: Transport | None = None,
) -> ManifestAnswer:
    """Read the manifest of ``reference`` (by digest), then make each of ``tags`` (references
    with a tag, on the same registry) point at it: a tag already pointing there is left alone,
    any other gets the manifest's own bytes PUT under it (Docker Registry API v2; the
    registry needs the blobs in that repository, so another repository usually refuses).

    Stops at the first tag that cannot be set, with the reason; never raises for I/O. The
    credentials must allow pushing to the tags' repositories (a bearer token is asked for
    ``pull,push`` when the registry's challenge says so)."""
    ref = reference if isinstance(reference, ImageReference) else ImageReference.parse(reference)
    targets = [t if isinstance(t, ImageReference) else ImageReference.parse(t) for t in tags]
    if ref.digest is None:
        raise SpecError(f"`{ref}`: a manifest is read by digest (`@sha256:...`)")
    for target in targets:
        if target.host != ref.host or target.tag is None or target.digest is not None:
            raise SpecError(f"`{target}`: a tag on {ref.host} (`{ref.host}/repository:tag`)")
    answer = over_transport(
        ref.host,
        lambda sent: _guarded(AuthSession(ref, auth, insecure=insecure, transport=sent), targets),
        lambda reason: ManifestAnswer(None, reason),
        transport=transport,
        insecure=insecure,
        skip_tls_verify=skip_tls_verify,
        ca_file=ca_file,
        timeout=timeout,
    )
    return replace(answer, reason=printable(redact(answer.reason, auth)))


def _guarded(session: AuthSession, targets: list[ImageReference]) -> ManifestAnswer:
    try:
        return _read_and_tag(session, targets)
    except Unreachable as error:
        return ManifestAnswer(None, str(error))
    except Exception as error:  # whatever a server's answer breaks: an answer, no crash
        return ManifestAnswer(
            None,
            f"reading the manifest from {session.ref.host} failed on an answer polymagic"
            f" cannot read ({type(error).__name__})",
        )


def _read_and_tag(session: AuthSession, targets: list[ImageReference]) -> ManifestAnswer:
    url = manifest_url(session.ref, insecure=session.insecure)
    got = session.call(Request("GET", url, {"Accept": MANIFEST_ACCEPT}, MAX_MANIFEST))
    if isinstance(got, Outcome):
        return ManifestAnswer(None, got.reason, credentials_rejected=got.credentials_rejected)
    manifest = served_manifest(got, session.ref)
    if isinstance(manifest, str):
        return ManifestAnswer(None, manifest)
    tagged: list[str] = []
    for target in targets:
        why = _point(session, target, manifest)
        if why:
            return ManifestAnswer(manifest, why, tuple(tagged))
        tagged.append(str(target))
    return ManifestAnswer(manifest, "", tuple(tagged))


def _point(session: AuthSession, target: ImageReference, manifest: ImageManifest) -> str:
    """Make ``target`` point at ``manifest``; "" when it does, else why not."""
    url = manifest_url(target, insecure=session.insecure)
    now = session.call(Request("HEAD", url, {"Accept": MANIFEST_ACCEPT}, MAX_MANIFEST))
    pointed = now.header("Docker-Content-Digest") if isinstance(now, Response) else ""
    if pointed.strip() == manifest.digest:
        return ""
    put = Request("PUT", url, {"Content-Type": manifest.media_type}, 64 * 1024, manifest.body)
    stored = session.call(put)
    if isinstance(stored, Outcome):
        return f"could not tag {target}: {stored.reason}"
    if stored.status not in (200, 201):
        code = error_code(stored.body)
        detail = f" ({code})" if code else ""
        if stored.status in (401, 403):
            why = f"refused to let these credentials push to `{target.repository}`"
        else:
            why = "refused the manifest"
        return f"could not tag {target}: {target.host} {why} (HTTP {stored.status}){detail}"
    answered = stored.header("Docker-Content-Digest").strip()
    if answered and answered != manifest.digest:
        return (
            f"could not tag {target}: {target.host} stored the manifest as {answered},"
            f" not {manifest.digest}"
        )
    return ""
