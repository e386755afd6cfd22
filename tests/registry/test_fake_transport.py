"""The registry check's logic (auth dance, reading answers, tagging) through a fake
:class:`~polymagic.registry.Transport`: milliseconds each, no server. The real
``docker-registry`` tests (``test_registry.py``, ``test_manifests.py``) stay the real thing."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from polymagic.registry import (
    Presence,
    RegistryAuth,
    Request,
    Response,
    Unreachable,
    check_image,
    read_manifest,
    tag_manifest,
)
from tests.registry.fake_transport import FakeTransport, digest, error_body, manifest_body

HOST = "reg.example"
REF = f"{HOST}/org/app:v1"
URL = f"https://{HOST}/v2/org/app/manifests/v1"
REALM = "https://auth.example/token"
BODY = manifest_body()
DIGEST = digest(BODY)
MEDIA = "application/vnd.docker.distribution.manifest.v2+json"
PASSWORD = "s3cret-password"
BASIC = RegistryAuth(username="user", password=PASSWORD)


def _challenge(value: str) -> Response:
    return Response(401, (("WWW-Authenticate", value),))


def _found() -> Response:
    return Response(200, (("Docker-Content-Digest", DIGEST), ("Content-Type", MEDIA)))


def _bearer_only(request: Request) -> Response:
    if request.headers.get("Authorization") == "Bearer t0k":
        return _found()
    return _challenge(f'Bearer realm="{REALM}",service="reg",scope="repository:org/app:pull"')


def test_a_bearer_challenge_gets_a_token_with_the_password_and_retries() -> None:
    fake = FakeTransport(
        {("HEAD", URL): _bearer_only, ("GET", REALM): Response(200, body=b'{"token": "t0k"}')}
    )
    answer = check_image(REF, auth=BASIC, transport=fake)
    assert (answer.presence, answer.digest, answer.status) == (Presence.EXISTS, DIGEST, 200)
    [token_request] = fake.to("GET", REALM)
    expected = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected}"
    query = parse_qs(urlsplit(token_request.url).query)
    assert query == {"service": ["reg"], "scope": ["repository:org/app:pull"]}
    assert [r.headers.get("Authorization") for r in fake.to("HEAD", URL)] == [None, "Bearer t0k"]


def test_an_identity_token_is_posted_as_a_refresh_token_form() -> None:
    fake = FakeTransport(
        {
            ("HEAD", URL): _bearer_only,
            ("POST", REALM): Response(200, body=b'{"access_token": "t0k"}'),
        }
    )
    auth = RegistryAuth(username="<token>", identity_token="refresh-me-please")
    assert check_image(REF, auth=auth, transport=fake).presence is Presence.EXISTS
    [post] = fake.to("POST", REALM)
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs((post.data or b"").decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-me-please"],
        "client_id": ["polymagic-registry-check"],
        "scope": ["repository:org/app:pull"],
        "service": ["reg"],
    }


def test_credentials_are_not_sent_to_a_plain_http_token_realm() -> None:
    realm = "http://auth.example/token"
    fake = FakeTransport({("HEAD", URL): _challenge(f'Bearer realm="{realm}"')})
    answer = check_image(REF, auth=BASIC, transport=fake)
    assert answer.presence is Presence.UNKNOWN
    assert "is plain HTTP" in answer.reason
    assert [r.url for r in fake.sent] == [URL]


def test_a_refused_password_is_flagged_as_rejected_credentials() -> None:
    fake = FakeTransport({("HEAD", URL): _challenge('Basic realm="reg"')})
    answer = check_image(REF, auth=BASIC, transport=fake)
    assert (answer.presence, answer.credentials_rejected) == (Presence.UNKNOWN, True)
    assert "rejected the credentials" in answer.reason
    assert len(fake.sent) == 2


def test_without_a_digest_header_the_manifest_bytes_are_hashed() -> None:
    fake = FakeTransport({("HEAD", URL): Response(405), ("GET", URL): Response(200, body=BODY)})
    answer = check_image(REF, auth=None, transport=fake)
    assert (answer.presence, answer.digest) == (Presence.EXISTS, DIGEST)
    assert [r.method for r in fake.sent] == ["HEAD", "GET", "GET"]


def test_missing_names_the_error_code_and_a_secret_echoed_back_is_hidden() -> None:
    fake = FakeTransport({("HEAD", URL): Response(404, body=error_body(f"NOPE-{PASSWORD}"))})
    answer = check_image(REF, auth=BASIC, transport=fake)
    assert answer.presence is Presence.MISSING
    assert "org/app:v1" in answer.reason
    assert PASSWORD not in answer.reason
    assert "NOPE-***" in answer.reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (Unreachable("no answer from reg.example within 10s"), "no answer from reg.example"),
        (ValueError("odd"), "cannot read (ValueError)"),
    ],
    ids=["unreachable", "broken-answer"],
)
def test_whatever_the_transport_raises_is_unknown(error: Exception, reason: str) -> None:
    answer = check_image(REF, auth=None, transport=FakeTransport({("HEAD", URL): error}))
    assert answer.presence is Presence.UNKNOWN
    assert reason in answer.reason


def test_tagging_puts_the_manifest_under_a_tag_that_points_elsewhere() -> None:
    source = f"https://{HOST}/v2/org/app/manifests/{DIGEST}"
    latest = f"https://{HOST}/v2/org/app/manifests/latest"
    fake = FakeTransport(
        {
            ("GET", source): Response(200, (("Content-Type", MEDIA),), BODY),
            ("HEAD", latest): Response(404),
            ("PUT", latest): Response(201, (("Docker-Content-Digest", DIGEST),)),
        }
    )
    answer = tag_manifest(
        f"{HOST}/org/app@{DIGEST}", [f"{HOST}/org/app:latest"], auth=None, transport=fake
    )
    assert answer.ok, answer
    assert answer.tagged == (f"{HOST}/org/app:latest",)
    [put] = fake.to("PUT", latest)
    assert (put.data, put.headers["Content-Type"]) == (BODY, MEDIA)
    assert answer.manifest is not None
    assert answer.manifest.image_size == 35


def test_a_manifest_that_does_not_hash_to_its_digest_is_refused() -> None:
    asked = "sha256:" + "e" * 64
    source = f"https://{HOST}/v2/org/app/manifests/{asked}"
    fake = FakeTransport({("GET", source): Response(200, (("Content-Type", MEDIA),), BODY)})
    answer = read_manifest(f"{HOST}/org/app@{asked}", auth=None, transport=fake)
    assert answer.manifest is None
    assert f"with a manifest of digest {DIGEST}" in answer.reason
