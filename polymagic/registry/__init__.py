"""Ask a container registry about an image (Docker Registry HTTP API v2).

The one question polymagic asks a registry before building is *does the destination already
hold this tag (or digest)?* (:func:`check_image`), answered ``EXISTS`` / ``MISSING`` /
``UNKNOWN`` so that a network error, a refused login or a server that is not a registry is
never mistaken for "no". For an image known by digest it also reads the manifest
(:func:`read_manifest`: media type and size) and points tags at it (:func:`tag_manifest`). It
never pushes blobs and never deletes.

Modules, in the order they build on each other:

- :mod:`.reference`: image references, read as Kaniko and Docker read them;
- :mod:`.credentials`: credentials from a docker config, never shown;
- :mod:`.transport`: HTTP (the only ``urllib``/``http`` user of polymagic) under one deadline,
  with the TLS and redirect rules; :class:`Transport` is where a test plugs in a fake;
- :mod:`.answer`: reading answers (presence, digests, manifests, sizes, error codes);
- :mod:`.auth`: ``WWW-Authenticate`` challenges, HTTP Basic and Bearer tokens;
- :mod:`.opening`: one question's transport (a test's fake, or its own under one deadline);
- :mod:`.check`, :mod:`.tagging` and :mod:`.image_reading`: the questions polymagic asks;
- :mod:`.repository_access` and :mod:`.referrers`: reading layers, and attaching artifacts
  (an SBOM, a provenance statement) next to an image: OCI referrers, else cosign's tags.

A registry is input polymagic does not control: whatever it answers ends as an answer with a
printable reason, free of credentials, within the one deadline.
"""

from __future__ import annotations

from polymagic.registry.answer import (
    ImageManifest,
    ManifestAnswer,
    Presence,
    RegistryAnswer,
)
from polymagic.registry.check import check_image
from polymagic.registry.credentials import RegistryAuth
from polymagic.registry.reference import ImageReference
from polymagic.registry.tagging import read_manifest, tag_manifest
from polymagic.registry.transport import (
    HttpTransport,
    Request,
    Response,
    Transport,
    Unreachable,
)

__all__ = [
    "HttpTransport",
    "ImageManifest",
    "ImageReference",
    "ManifestAnswer",
    "Presence",
    "RegistryAnswer",
    "RegistryAuth",
    "Request",
    "Response",
    "Transport",
    "Unreachable",
    "check_image",
    "read_manifest",
    "tag_manifest",
]
