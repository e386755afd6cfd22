"""Tests of polymagic.registry: reading references and docker configs, and the three answers
(EXISTS / MISSING / UNKNOWN) from Debian's real docker-registry in every mode (see conftest)."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polymagic.errors import ConnectionsError, SpecError
from polymagic.registry import (
    ImageReference,
    Presence,
    RegistryAnswer,
    RegistryAuth,
    check_image,
)
from tests.cluster.control_plane import write_ca_and_server_cert
from tests.registry.server import (
    ManifestKind,
    RegistryMode,
    RegistryServer,
    StubAnswer,
    StubServer,
    push_test_image,
)

HEX = "0123456789abcdef" * 4
DIGEST = f"sha256:{HEX}"
HUB = "registry-1.docker.io"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- references ---------------------------------------------------------------------------------

VALID = [
    ("ubuntu", HUB, "library/ubuntu", "latest", None),
    ("ubuntu:22.04", HUB, "library/ubuntu", "22.04", None),
    ("library/ubuntu", HUB, "library/ubuntu", "latest", None),
    ("docker.io/ubuntu", HUB, "library/ubuntu", "latest", None),
    ("docker.io/library/ubuntu:22.04", HUB, "library/ubuntu", "22.04", None),
    ("index.docker.io/ubuntu", HUB, "library/ubuntu", "latest", None),
    ("polyaxon/polyaxon-quick-start", HUB, "polyaxon/polyaxon-quick-start", "latest", None),
    ("registry-1.docker.io/foo", HUB, "foo", "latest", None),  # no library/: both tools agree
    ("registry.example.com/org/app", "registry.example.com", "org/app", "latest", None),
    ("registry.example.com:5000/org/app:tag", "registry.example.com:5000", "org/app", "tag", None),
    ("reg.io:5000/app:5000", "reg.io:5000", "app", "5000", None),
    ("localhost:5000/app", "localhost:5000", "app", "latest", None),
    ("127.0.0.1:5000/a/b/c:v1.2_3-x", "127.0.0.1:5000", "a/b/c", "v1.2_3-x", None),
    ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
    ("my_org/my__app-x.y", HUB, "my_org/my__app-x.y", "latest", None),
    (f"app@{DIGEST}", HUB, "library/app", None, DIGEST),
    (f"reg.io/a/b:t@{DIGEST}", "reg.io", "a/b", "t", DIGEST),
    (f"reg.io:443/ns/app@{DIGEST}", "reg.io:443", "ns/app", None, DIGEST),
    ("app:" + "T" * 127, HUB, "library/app", "T" * 127, None),
]


@pytest.mark.parametrize(
    ("text", "host", "repository", "tag", "digest"), VALID, ids=[case[0][:40] for case in VALID]
)
def test_parse_reads_references_as_docker_and_kaniko(
    text: str, host: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageReference.parse(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == (host, repository, tag, digest)
    assert ref.identifier == (digest or tag)
    assert ref.is_docker_hub == (host == HUB)
    assert ImageReference.parse(str(ref)) == ref


INVALID = [
    ("", "required"),
    ("https://reg.io/app", "without a scheme"),
    ("localhost/app", "read `localhost/...` differently"),
    ("Foo/bar", "lowercase"),
    ("reg.io/App", "lowercase"),
    ("a", "at least 2"),
    ("reg.io/a", "at least 2"),
    ("app:", "a tag is"),
    ("app:-x", "a tag is"),
    ("app:" + "x" * 128, "a tag is"),
    ("app@sha256:abc", "digest"),
    (f"app@sha512:{HEX}{HEX}", "digest"),
    (f"app@{DIGEST}@{DIGEST}", "digest"),
    ("reg.io/a b", "whitespace"),
    ("reg.io/a//b", "repository is lowercase words"),
    ("reg.io/-app", "repository is lowercase words"),
    ("bad_host.io:x/app", "not a valid registry host"),
    ("reg.io/" + "a/" * 130 + "b", "longer than 255"),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[case[0][:30] for case in INVALID])
def test_parse_refuses_what_either_tool_refuses(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ImageReference.parse(text)


def test_check_image_raises_for_an_invalid_reference() -> None:
    with pytest.raises(SpecError, match="lowercase"):
        check_image("reg.io/App:tag", auth=None)


# -- credentials from a docker config -------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": _b64("user:pa:ss")}, RegistryAuth(username="user", password="pa:ss")),
        ({"auth": _b64("user:pw")[:-2]}, RegistryAuth(username="user", password="pw")),
        ({"username": "u", "password": "p"}, RegistryAuth(username="u", password="p")),
        (
            {"auth": _b64("a:b"), "username": "x", "password": "y"},
            RegistryAuth(username="a", password="b"),
        ),
        (
            {"username": "<token>", "identitytoken": "idt"},
            RegistryAuth(username="<token>", identity_token="idt"),
        ),
        ({"registrytoken": "rt"}, RegistryAuth(registry_token="rt")),
        ({"email": "me@example.com"}, None),
        ({"auth": ""}, None),
    ],
    ids=[
        "auth",
        "auth-unpadded",
        "username-password",
        "auth-wins",
        "identitytoken",
        "registrytoken",
        "nothing-usable",
        "empty-auth",
    ],
)
def test_docker_config_entry_forms(entry: dict[str, str], expected: RegistryAuth | None) -> None:
    config = {"auths": {"reg.io": entry}}
    assert RegistryAuth.from_docker_config(config, "reg.io") == expected


@pytest.mark.parametrize(
    ("key", "host", "matches"),
    [
        ("reg.io:5000", "reg.io:5000", True),
        ("https://reg.io:5000", "reg.io:5000", True),
        ("http://reg.io:5000/v1/", "reg.io:5000", True),
        ("reg.io:5000/v2/", "reg.io:5000", True),
        ("REG.IO:5000", "reg.io:5000", True),
        ("reg.io", "reg.io:5000", False),
        ("reg.io:5001", "reg.io:5000", False),
        ("other.io", "reg.io", False),
        ("https://index.docker.io/v1/", HUB, True),
        ("https://index.docker.io/v1/", "docker.io", True),
        ("docker.io", HUB, True),
        ("index.docker.io", "index.docker.io", True),
        ("registry-1.docker.io", "docker.io", True),
        ("https://index.docker.io/v1/", "quay.io", False),
    ],
)
def test_docker_config_keys_match_like_docker(key: str, host: str, matches: bool) -> None:
    config = {"auths": {key: {"username": "u", "password": "p"}}}
    found = RegistryAuth.from_docker_config(config, host)
    assert (found is not None) == matches


def test_docker_config_prefers_the_exact_key_and_docker_hubs_own_key() -> None:
    config = {
        "auths": {
            "https://reg.io": {"username": "scheme", "password": "p"},
            "reg.io": {"username": "exact", "password": "p"},
            "docker.io": {"username": "alias", "password": "p"},
            "https://index.docker.io/v1/": {"username": "hub", "password": "p"},
        }
    }
    assert getattr(RegistryAuth.from_docker_config(config, "reg.io"), "username", None) == "exact"
    assert getattr(RegistryAuth.from_docker_config(config, HUB), "username", None) == "hub"


def test_docker_config_legacy_form_and_credential_helpers() -> None:
    legacy = {"reg.io": {"auth": _b64("u:p"), "email": "x"}}
    assert RegistryAuth.from_docker_config(legacy, "reg.io") == RegistryAuth("u", "p")
    helpers = {"credsStore": "desktop", "credHelpers": {"reg.io": "ecr-login"}}
    assert RegistryAuth.from_docker_config(helpers, "reg.io") is None


@pytest.mark.parametrize(
    "config",
    [
        {"auths": {"reg.io": {"auth": "not base64 SECRET-VALUE"}}},
        {"auths": {"reg.io": {"auth": _b64("no-colon-SECRET-VALUE")}}},
        {"auths": {"reg.io": {"password": 12345}}},
        {"auths": ["SECRET-VALUE"]},
        {"auths": {"reg.io": "SECRET-VALUE"}},
    ],
    ids=["not-base64", "no-colon", "not-a-string", "auths-not-object", "entry-not-object"],
)
def test_bad_docker_config_is_one_message_without_the_secret(config: dict[str, Any]) -> None:
    with pytest.raises(ConnectionsError) as raised:
        RegistryAuth.from_docker_config(config, "reg.io")
    assert "SECRET-VALUE" not in str(raised.value)
    assert _b64("no-colon-SECRET-VALUE") not in str(raised.value)


# -- the real registry: the three answers ---------------------------------------------------------


def _access(registry: RegistryServer, form: str = "auth", **config: str) -> dict[str, Any]:
    """check_image's keyword arguments that reach ``registry`` properly."""
    options: dict[str, Any] = {"auth": None}
    if registry.mode is RegistryMode.HTTP:
        options["insecure"] = True
    else:
        options["ca_file"] = str(registry.ca_file)
    if registry.needs_credentials:
        docker_config = registry.docker_config(form, **config)
        options["auth"] = RegistryAuth.from_docker_config(docker_config, registry.host)
        assert options["auth"] is not None
    return options


def _expect(answer: RegistryAnswer, presence: Presence, *words: str) -> None:
    assert answer.presence is presence, answer
    for word in words:
        assert word in answer.reason, answer


MODES = ["http_registry", "tls_registry", "basic_auth_registry", "token_registry"]


@pytest.mark.registry
@pytest.mark.parametrize("mode", MODES)
def test_exists_and_missing_in_every_mode(
    mode: str, request: pytest.FixtureRequest, repository: str
) -> None:
    registry: RegistryServer = request.getfixturevalue(mode)
    digest = push_test_image(registry, repository, "v1")
    access = _access(registry, repository=repository)

    found = check_image(registry.image(repository, "v1"), **access)
    _expect(found, Presence.EXISTS, digest)
    assert (found.digest, found.status) == (digest, 200)
    assert found.image == f"{registry.host}/{repository}@{digest}"
    _expect(check_image(f"{registry.host}/{repository}@{digest}", **access), Presence.EXISTS)

    tag_missing = check_image(registry.image(repository, "v2"), **access)
    _expect(tag_missing, Presence.MISSING, f"{repository}:v2")
    assert (tag_missing.digest, tag_missing.status) == (None, 404)
    _expect(check_image(f"{registry.host}/{repository}@{DIGEST}", **access), Presence.MISSING)
    never_pushed = check_image(registry.image(f"{repository}-never-pushed", "v1"), **access)
    _expect(never_pushed, Presence.MISSING)


@pytest.mark.parametrize("kind", list(ManifestKind), ids=[kind.name for kind in ManifestKind])
def test_every_manifest_kind_is_found_with_its_own_digest(
    kind: ManifestKind, http_registry: RegistryServer, repository: str
) -> None:
    # An index must be answered as the index (its digest), not as a platform's manifest.
    digest = push_test_image(http_registry, repository, "multi", kind=kind)
    answer = check_image(http_registry.image(repository, "multi"), auth=None, insecure=True)
    _expect(answer, Presence.EXISTS)
    assert answer.digest == digest


def test_a_retag_is_seen(http_registry: RegistryServer, repository: str) -> None:
    first = push_test_image(http_registry, repository, "latest", content="one")
    second = push_test_image(http_registry, repository, "latest", content="two")
    assert first != second
    answer = check_image(http_registry.image(repository, "latest"), auth=None, insecure=True)
    assert answer.digest == second


@pytest.mark.parametrize("insecure", [True, False], ids=["http", "https"])
def test_a_registry_that_is_down_is_unknown(closed_port: str, insecure: bool) -> None:
    answer = check_image(f"{closed_port}/org/app:v1", auth=None, insecure=insecure)
    _expect(answer, Presence.UNKNOWN, "connection refused", closed_port)
    assert (answer.digest, answer.status) == (None, None)


def test_a_registry_that_never_answers_is_unknown_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        answer = check_image(f"{host}/org/app:v1", auth=None, insecure=True, timeout=0.5)
    assert time.monotonic() - started < 3
    _expect(answer, Presence.UNKNOWN, "no answer", "0.5s")


def test_tls_certificate_must_be_trusted_or_skipped(
    tls_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(tls_registry, repository, "v1")
    image = tls_registry.image(repository, "v1")
    untrusted = check_image(image, auth=None)
    _expect(untrusted, Presence.UNKNOWN, "certificate", "ca_file", "skip_tls_verify")
    assert untrusted.digest is None
    skipped = check_image(image, auth=None, skip_tls_verify=True)
    trusted = check_image(image, auth=None, ca_file=str(tls_registry.ca_file))
    assert (skipped.presence, skipped.digest) == (Presence.EXISTS, digest)
    assert (trusted.presence, trusted.digest) == (Presence.EXISTS, digest)


def test_a_ca_file_that_cannot_be_used_is_unknown_not_an_exception(
    tls_registry: RegistryServer, tmp_path: Path
) -> None:
    image = tls_registry.image("org/app", "v1")
    missing = check_image(image, auth=None, ca_file=str(tmp_path / "nope.crt"))
    _expect(missing, Presence.UNKNOWN, "cannot use the CA file", "nope.crt")
    (tmp_path / "junk.crt").write_text("not a certificate")
    junk = check_image(image, auth=None, ca_file=str(tmp_path / "junk.crt"))
    _expect(junk, Presence.UNKNOWN, "cannot use the CA file", "junk.crt")


def test_http_and_https_mixed_up_are_unknown_with_the_fix(
    http_registry: RegistryServer, tls_registry: RegistryServer
) -> None:
    over_tls = check_image(http_registry.image("org/app", "v1"), auth=None, skip_tls_verify=True)
    _expect(over_tls, Presence.UNKNOWN, "insecure")
    over_http = check_image(tls_registry.image("org/app", "v1"), auth=None, insecure=True)
    _expect(over_http, Presence.UNKNOWN, "serves HTTPS")


# -- the real registry: credentials ---------------------------------------------------------------


@pytest.mark.parametrize("form", ["auth", "username"])
def test_basic_auth_with_credentials_from_a_docker_config(
    form: str, basic_auth_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(basic_auth_registry, repository, "v1")
    answer = check_image(
        basic_auth_registry.image(repository, "v1"), **_access(basic_auth_registry, form)
    )
    assert (answer.presence, answer.digest) == (Presence.EXISTS, digest)


def test_basic_auth_without_or_with_wrong_credentials_is_unknown(
    basic_auth_registry: RegistryServer, repository: str
) -> None:
    push_test_image(basic_auth_registry, repository, "v1")
    image = basic_auth_registry.image(repository, "v1")
    ca = str(basic_auth_registry.ca_file)
    anonymous = check_image(image, auth=None, ca_file=ca)
    _expect(anonymous, Presence.UNKNOWN, "requires a user and password", "docker config")
    assert anonymous.status == 401
    wrong = _access(basic_auth_registry, password="wrong-password")
    _expect(check_image(image, **wrong), Presence.UNKNOWN, "rejected the credentials")
    elsewhere = basic_auth_registry.docker_config()["auths"].popitem()[1]
    assert RegistryAuth.from_docker_config({"auths": {"other.io": elsewhere}}, image) is None


@pytest.mark.parametrize("form", ["auth", "username", "identitytoken", "registrytoken"])
def test_bearer_tokens_with_credentials_from_a_docker_config(
    form: str, token_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(token_registry, repository, "v1")
    assert token_registry.token_server is not None
    asked = len(token_registry.token_server.requests)
    access = _access(token_registry, form, repository=repository)
    answer = check_image(token_registry.image(repository, "v1"), **access)
    assert (answer.presence, answer.digest) == (Presence.EXISTS, digest)
    requests = token_registry.token_server.requests[asked:]
    expected = {
        "auth": [("GET", "basic")],
        "username": [("GET", "basic")],
        "identitytoken": [("POST", "identitytoken")],
        "registrytoken": [],  # used as it is, no token server involved
    }
    assert requests == expected[form]


def test_bearer_without_or_with_wrong_credentials_is_unknown(
    token_registry: RegistryServer, repository: str
) -> None:
    push_test_image(token_registry, repository, "v1")
    image = token_registry.image(repository, "v1")
    ca = str(token_registry.ca_file)
    _expect(check_image(image, auth=None, ca_file=ca), Presence.UNKNOWN, "needs credentials")
    wrong = check_image(image, **_access(token_registry, password="wrong-password"))
    _expect(wrong, Presence.UNKNOWN, "token server", "rejected the credentials")
    bad_token = RegistryAuth(username="<token>", identity_token="not-the-token")
    _expect(check_image(image, auth=bad_token, ca_file=ca), Presence.UNKNOWN, "rejected")
    other = check_image(
        image,
        auth=RegistryAuth(registry_token=_token_for(token_registry, "tests/someone-else")),
        ca_file=ca,
    )
    _expect(other, Presence.UNKNOWN, "did not let these credentials read")


def _token_for(registry: RegistryServer, repository: str) -> str:
    assert registry.token_server is not None
    return registry.token_server.mint(registry.username, [f"repository:{repository}:pull"])


# -- what a real registry will not do: a scripted server ------------------------------------------


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A scripted plain-HTTP server; set ``stub.respond`` in the test."""
    server = StubServer(lambda method, path, headers: StubAnswer(500)).start()
    try:
        yield server
    finally:
        server.stop()


MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'

STUBBED = [
    ("server-error", StubAnswer(503), Presence.UNKNOWN, "HTTP 503"),
    ("forbidden", StubAnswer(403), Presence.UNKNOWN, "refused access"),
    ("rate-limited", StubAnswer(429), Presence.UNKNOWN, "rate-limiting"),
    ("teapot", StubAnswer(418), Presence.UNKNOWN, "HTTP 418"),
    (
        "html-page",
        StubAnswer(200, {"Content-Type": "text/html"}, b"<html>"),
        Presence.UNKNOWN,
        "is it a registry",
    ),
    ("no-digest-header", StubAnswer(200, {}, MANIFEST), Presence.EXISTS, "exists"),
    (
        "negotiate",
        StubAnswer(401, {"WWW-Authenticate": "Negotiate"}),
        Presence.UNKNOWN,
        "negotiate",
    ),
    (
        "file-realm",
        StubAnswer(401, {"WWW-Authenticate": 'Bearer realm="file:///etc/passwd"'}),
        Presence.UNKNOWN,
        "unusable token realm",
    ),
]


@pytest.mark.parametrize(
    ("answer", "presence", "words"),
    [case[1:] for case in STUBBED],
    ids=[case[0] for case in STUBBED],
)
def test_answers_that_are_not_found_or_not_found_are_unknown(
    stub: StubServer, answer: StubAnswer, presence: Presence, words: str
) -> None:
    stub.respond = lambda method, path, headers: answer
    result = check_image(f"{stub.host}/org/app:v1", auth=None, insecure=True)
    _expect(result, presence, words)
    if presence is Presence.EXISTS:  # no header: the digest is the hash of the manifest's bytes
        assert result.digest == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def test_a_token_http_cannot_carry_is_unknown_without_quoting_it(stub: StubServer) -> None:
    challenge = {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:9/token"'}
    stub.respond = lambda method, path, headers: StubAnswer(401, challenge)
    auth = RegistryAuth(registry_token="secret-\u2603-token")
    answer = check_image(f"{stub.host}/org/app:v1", auth=auth, insecure=True)
    _expect(answer, Presence.UNKNOWN, "characters HTTP cannot carry")
    assert "\u2603" not in answer.reason
    assert "secret" not in answer.reason


def test_credentials_are_not_forwarded_across_a_redirect(stub: StubServer) -> None:
    target = StubServer(
        lambda method, path, headers: StubAnswer(200, {"Docker-Content-Digest": DIGEST})
    ).start()
    try:

        def respond(method: str, path: str, headers: dict[str, str]) -> StubAnswer:
            if "Authorization" not in headers:
                return StubAnswer(401, {"WWW-Authenticate": 'Basic realm="stub"'})
            return StubAnswer(307, {"Location": f"http://{target.host}{path}"})

        stub.respond = respond
        auth = RegistryAuth(username="user", password="redirect-secret")
        answer = check_image(f"{stub.host}/org/app:v1", auth=auth, insecure=True)
    finally:
        target.stop()
    assert (answer.presence, answer.digest) == (Presence.EXISTS, DIGEST)
    assert len(target.requests) == 1  # (urllib follows a HEAD's redirect with a GET)
    assert "Authorization" not in target.requests[0][2]


def test_credentials_are_not_sent_to_a_plain_http_token_realm(tmp_path: Path) -> None:
    _, cert, key = write_ca_and_server_cert(tmp_path)
    challenge = 'Bearer realm="http://127.0.0.1:9/token",service="s"'
    tls_stub = StubServer(
        lambda method, path, headers: StubAnswer(401, {"WWW-Authenticate": challenge}),
        cert=(cert, key),
    ).start()
    try:
        auth = RegistryAuth(username="user", password="realm-secret")
        answer = check_image(
            f"{tls_stub.host}/org/app:v1", auth=auth, skip_tls_verify=True, timeout=5
        )
    finally:
        tls_stub.stop()
    _expect(answer, Presence.UNKNOWN, "plain HTTP", "insecure")


# -- credentials never show -----------------------------------------------------------------------


def test_no_credential_ever_appears_in_a_reason_repr_or_error(
    basic_auth_registry: RegistryServer,
    token_registry: RegistryServer,
    closed_port: str,
    repository: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    wrong = "wrong-password-" + "x" * 12
    secrets = [
        basic_auth_registry.password,
        token_registry.password,
        token_registry.identity_token,
        wrong,
        _b64(f"{basic_auth_registry.username}:{basic_auth_registry.password}"),
        _b64(f"{basic_auth_registry.username}:{wrong}"),
    ]
    texts: list[str] = []
    answers: list[RegistryAnswer] = []
    auths: list[RegistryAuth | None] = []
    for registry in (basic_auth_registry, token_registry):
        push_test_image(registry, repository, "v1")
        image = registry.image(repository, "v1")
        ca = str(registry.ca_file)
        for form in ("auth", "username", "identitytoken"):
            if form == "identitytoken" and registry.mode is RegistryMode.TLS_BASIC:
                continue
            for password in (None, wrong):
                options = _access(registry, form, password=password or registry.password)
                auths.append(options["auth"])
                answers.append(check_image(image, **options))  # found or refused
                answers.append(check_image(image, auth=options["auth"]))  # untrusted TLS
                answers.append(check_image(image, auth=options["auth"], ca_file=ca, insecure=True))
                answers.append(check_image(f"{closed_port}/org/app:v1", auth=options["auth"]))
    for bad in ("not base64 " + wrong, _b64(wrong)):
        with pytest.raises(ConnectionsError) as raised:
            RegistryAuth.from_docker_config({"auths": {"reg.io": {"auth": bad}}}, "reg.io")
        texts += [str(raised.value), repr(raised.value), *raised.value._render_traceback_()]
    assert {answer.presence for answer in answers} == {Presence.EXISTS, Presence.UNKNOWN}
    for answer in answers:
        texts += [answer.reason, repr(answer), str(answer)]
    for auth in auths:
        texts += [repr(auth), str(auth), f"{auth}", repr([auth])]
    texts.append(caplog.text)
    leaks = [(secret, text) for text in texts for secret in secrets if secret in text]
    assert leaks == []
