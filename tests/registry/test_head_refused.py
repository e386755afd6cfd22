"""A registry behind a front that answers 405 to ``HEAD`` (some proxies and mirrors do): the
check falls back to ``GET``, and that ``GET`` must authenticate as the ``HEAD`` would have.

The front is a scripted HTTPS server (:class:`StubServer`, with the registry's own certificate)
that refuses ``HEAD`` and forwards every other request, headers and all, to Debian's real
``docker-registry`` in the Basic and Bearer modes; tokens come from the real token server.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from polymagic.registry import Presence, RegistryAuth, check_image
from tests.registry.server import RegistryServer, StubAnswer, StubServer, push_test_image

_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "date", "server"}


def _forward(
    registry: RegistryServer, method: str, path: str, headers: dict[str, str]
) -> StubAnswer:
    if method == "HEAD":
        return StubAnswer(405, {"Allow": "GET"})
    sent = {k: v for k, v in headers.items() if k.lower() in ("accept", "authorization")}
    request = urllib.request.Request(registry.url + path, method=method, headers=sent)
    context: ssl.SSLContext | None = registry.ssl_context()
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            status, answer_headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, answer_headers, body = error.code, error.headers, error.read()
    kept = {k: v for k, v in answer_headers.items() if k.lower() not in _HOP_BY_HOP}
    return StubAnswer(status, kept, body)


@pytest.fixture(params=["basic_auth_registry", "token_registry"])
def fronted(request: pytest.FixtureRequest) -> Iterator[tuple[RegistryServer, StubServer]]:
    """(registry, front): the front answers 405 to HEAD and forwards the rest to the registry."""
    registry: RegistryServer = request.getfixturevalue(request.param)
    cert = (registry.workdir / "server.crt", registry.workdir / "server.key")
    front = StubServer(
        lambda method, path, headers: _forward(registry, method, path, headers), cert=cert
    ).start()
    try:
        yield registry, front
    finally:
        front.stop()


@pytest.mark.registry
def test_an_existing_image_behind_a_head_refusing_front_reads_as_existing(
    fronted: tuple[RegistryServer, StubServer], repository: str
) -> None:
    registry, front = fronted
    digest = push_test_image(registry, repository, "v1")
    auth = RegistryAuth(username=registry.username, password=registry.password)
    ca = str(registry.ca_file)

    found = check_image(f"{front.host}/{repository}:v1", auth=auth, ca_file=ca)

    assert (found.presence, found.digest) == (Presence.EXISTS, digest), found
    methods = [method for method, _, _ in front.requests]
    assert methods[0] == "HEAD"
    assert "GET" in methods
    assert "Authorization" in front.requests[-1][2]  # the GET that answered was authenticated
    missing = check_image(f"{front.host}/{repository}:v2", auth=auth, ca_file=ca)
    assert missing.presence is Presence.MISSING, missing


@pytest.mark.registry
def test_behind_a_head_refusing_front_wrong_credentials_are_still_named(
    fronted: tuple[RegistryServer, StubServer], repository: str
) -> None:
    registry, front = fronted
    push_test_image(registry, repository, "v1")
    auth = RegistryAuth(username=registry.username, password="wrong-password")
    answer = check_image(f"{front.host}/{repository}:v1", auth=auth, ca_file=str(registry.ca_file))
    assert answer.presence is Presence.UNKNOWN, answer
    assert "rejected the credentials" in answer.reason
    assert "wrong-password" not in answer.reason
