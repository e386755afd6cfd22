"""The question polymagic asks before building: does the registry already hold this tag (or
digest)? Answered ``EXISTS`` / ``MISSING`` / ``UNKNOWN``, never by raising for I/O.

The flow: a ``HEAD`` of the manifest (authenticated as the registry's challenge asks); a ``GET``
when the registry has no ``HEAD`` (405) or its error needs a body (400); a ``GET`` and a hash of
the bytes when the answer names no digest. Every ``GET`` authenticates as the ``HEAD`` does: a
front that refuses ``HEAD`` before asking for credentials must not turn an image into "can't
tell". Anything that breaks inside ends as ``UNKNOWN``, and
every reason is printable with the credentials taken out.
"""

from __future__ import annotations

from polymagic.printable import printable
from polymagic.registry.answer import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST,
    Outcome,
    Presence,
    RegistryAnswer,
    head_outcome,
    manifest_outcome,
)
from polymagic.registry.auth import AuthSession
from polymagic.registry.credentials import RegistryAuth, redact
from polymagic.registry.opening import over_transport
from polymagic.registry.reference import ImageReference
from polymagic.registry.transport import (
    Request,
    Transport,
    Unreachable,
    manifest_url,
)

__all__ = ["check_image"]


def check_image(
    reference: str | ImageReference,
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 10,
    transport: Transport | None = None,
) -> RegistryAnswer:
    """Ask the registry whether ``reference`` (a tag or a digest) exists; never raises for I/O.

    Anonymous first; on 401 with a ``Basic`` challenge the user and password are sent, with a
    ``Bearer`` challenge a token is fetched from the realm (with the credentials, if any) and the
    request retried. ``insecure`` talks plain HTTP (Kaniko's ``--insecure``); ``skip_tls_verify``
    talks HTTPS without checking the certificate (``--skip-tls-verify``); ``ca_file`` adds a CA to
    the system's. ``timeout`` bounds the whole check, in seconds. ``transport`` replaces the HTTP
    transport those three configure (a test's fake). An invalid reference raises
    :class:`~polymagic.errors.SpecError`.
    """
    ref = reference if isinstance(reference, ImageReference) else ImageReference.parse(reference)
    outcome = over_transport(
        ref.host,
        lambda sent: _guarded(ref, auth, insecure, sent),
        lambda reason: Outcome(Presence.UNKNOWN, reason),
        transport=transport,
        insecure=insecure,
        skip_tls_verify=skip_tls_verify,
        ca_file=ca_file,
        timeout=timeout,
    )
    return RegistryAnswer(
        presence=outcome.presence,
        reference=ref,
        digest=outcome.digest,
        reason=printable(redact(outcome.reason, auth)),
        status=outcome.status,
        credentials_rejected=outcome.credentials_rejected,
    )


def _guarded(
    ref: ImageReference, auth: RegistryAuth | None, insecure: bool, transport: Transport
) -> Outcome:
    session = AuthSession(ref, auth, insecure=insecure, transport=transport)
    try:
        return _check(session, manifest_url(ref, insecure=insecure))
    except Unreachable as error:
        return Outcome(Presence.UNKNOWN, str(error))
    except Exception as error:  # whatever a server's answer breaks: can't tell, no crash
        return Outcome(
            Presence.UNKNOWN,
            f"the check of {ref.host} failed on an answer polymagic cannot read"
            f" ({type(error).__name__})",
        )


def _check(session: AuthSession, url: str) -> Outcome:
    headers = {"Accept": MANIFEST_ACCEPT}
    response = session.call(Request("HEAD", url, headers, 64 * 1024))
    if isinstance(response, Outcome):
        return response
    get = Request("GET", url, headers, MAX_MANIFEST)
    if response.status in (400, 405):
        # No HEAD on manifests (405), or an error a HEAD answer has no body to explain (400).
        # A 405 can come before any challenge (a proxy refusing HEAD): the GET answers its own.
        response = session.call(get)
        if isinstance(response, Outcome):
            return response
    outcome = head_outcome(response, session.ref)
    if outcome is None:
        # The digest header is missing (an old or unusual registry): hash the manifest's bytes.
        again = session.call(get)
        outcome = again if isinstance(again, Outcome) else manifest_outcome(again, session.ref)
    return outcome
