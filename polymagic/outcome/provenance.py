"""A build's provenance as an in-toto Statement (v1) with an SLSA Provenance v1 predicate:
the subject is the pushed image's digest; ``buildDefinition`` the operation that was built
(its name, spec hash, the rendered Dockerfile's SHA-256) and what it resolved (the base image's
digest, the executor image, the build context's digest); ``runDetails`` the builder (polymagic
and its version), the pod and the start and finish times. Pure.

What this is, honestly: provenance written by the client that asked for the build, unsigned:
SLSA Build Level 1 (it says how the image was built; nothing stops someone who can push from
writing another one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from polymagic._version import __version__

__all__ = [
    "BUILD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "provenance_statement",
    "statement_json",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/polymagic/polymagic/kaniko-build/v1"
BUILDER_ID = "https://github.com/polymagic/polymagic"


def _digest_set(digest: str | None) -> dict[str, str]:
    if not digest or ":" not in digest:
        return {}
    algorithm, _, value = digest.partition(":")
    return {algorithm: value}


def provenance_statement(
    *,
    image: str,
    digest: str,
    operation: Mapping[str, Any],
    spec_hash: str,
    dockerfile_sha256: str | None,
    base: str | None,
    base_digest: str | None,
    executor_image: str,
    context_sha256: str | None,
    namespace: str,
    pod: str,
    started: str,
    finished: str,
    executor_digest: str | None = None,
    built_from: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The statement about ``image`` (``host/repository``) at ``digest``."""
    dependencies: list[dict[str, Any]] = []
    if base:
        dependencies.append({"uri": f"docker://{base}", "digest": _digest_set(base_digest)})
    if executor_digest is None and "@" in executor_image:
        executor_digest = executor_image.split("@", 1)[1]
    dependencies.append(
        {"uri": f"docker://{executor_image}", "digest": _digest_set(executor_digest)}
    )
    if context_sha256:
        dependencies.append(
            {"uri": "polymagic:build-context.tar.gz", "digest": {"sha256": context_sha256}}
        )
    external: dict[str, Any] = {"operation": dict(operation), "specHash": spec_hash}
    if dockerfile_sha256:
        external["dockerfileSha256"] = dockerfile_sha256
    external.update(built_from or {})
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": image, "digest": _digest_set(digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"namespace": namespace},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"polymagic": __version__}},
                "metadata": {
                    "invocationId": f"{namespace}/{pod}",
                    "startedOn": started,
                    "finishedOn": finished,
                },
            },
        },
    }


def statement_json(statement: Mapping[str, Any]) -> bytes:
    """The statement's bytes: sorted keys, a final newline."""
    return (json.dumps(statement, indent=2, sort_keys=True, default=str) + "\n").encode()
