"""Hostile registry answers to the reuse check, each check run in a child bounded to 10 s and
1 GiB while the servers run here.

Every case must end as "can't tell" (``UNKNOWN``) with one printable reason, within the check's
single deadline, and never send credentials where they do not belong.

Servers: Debian's real ``docker-registry`` where it can be made to misbehave (a malformed token
realm, a realm on another host, both set in its configuration); :class:`StubServer` for what
a real registry does not do on manifest requests (a redirect from HTTPS to plain HTTP, error
codes holding terminal control, malformed ``WWW-Authenticate`` headers of every shape);
:class:`TrickleServer` for a server answering one byte a second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.control_plane import write_self_signed_cert
from tests.hostile.bounded import run_bounded
from tests.registry.server import (
    RegistryMode,
    RegistryServer,
    StubAnswer,
    StubServer,
    TrickleServer,
    push_test_image,
)

CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
CHECK = """
import json, time
from polymagic.registry import RegistryAuth, check_image
started = time.monotonic()
answer = check_image({image!r}, auth={auth}, timeout={timeout}, **{options!r})
print(json.dumps({{"presence": answer.presence.value, "reason": answer.reason,
                  "digest": answer.digest, "seconds": time.monotonic() - started}}))
"""
SECRET = "hostile-registry-secret"
BASIC = f"RegistryAuth(username='user', password={SECRET!r})"


def _check(image: str, *, auth: str = "None", timeout: float = 5, **options: Any) -> dict[str, Any]:
    """``check_image`` in a bounded child; its answer as a dict (and how long it took)."""
    result = run_bounded(CHECK.format(image=image, auth=auth, timeout=timeout, options=options))
    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def _unknown(answer: dict[str, Any], *words: str) -> None:
    assert answer["presence"] == "unknown", answer
    assert CONTROL.search(answer["reason"]) is None, answer
    assert SECRET not in answer["reason"]
    for word in words:
        assert word in answer["reason"], answer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(lambda method, path, headers: StubAnswer(500)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-registry")


# -- the token realm ------------------------------------------------------------------------------


@pytest.mark.registry
def test_a_real_registry_announcing_a_malformed_realm_is_unknown(workdir: Path) -> None:
    # Before: urlsplit's ValueError ("Invalid IPv6 URL") escaped and ended `polymagic build`.
    registry = RegistryServer(workdir / "bad-realm", RegistryMode.TLS_TOKEN, realm="http://[::1/t")
    registry.start()
    try:
        answer = _check(registry.image("org/app", "v1"), auth=BASIC, ca_file=str(registry.ca_file))
    finally:
        registry.stop()
    _unknown(answer, "unusable token realm", "http://[::1/t")


CHALLENGES = [
    ("ipv6-unclosed", 'Bearer realm="https://[::1/token"'),
    ("ipv6-invalid", 'Bearer realm="https://[zz]/token"'),
    ("port-too-big", 'Bearer realm="https://127.0.0.1:99999999/token"'),
    ("port-not-a-number", 'Bearer realm="https://127.0.0.1:abc/token"'),
    ("no-host", 'Bearer realm="https:///token"'),
    ("space-in-host", 'Bearer realm="https://exa mple/token"'),
    ("terminal-control", 'Bearer realm="https://\x1b]0;pwned\x07\x1bc/token"'),
    ("empty", 'Bearer realm=""'),
    ("unterminated-quote", 'Bearer realm="https://127.0.0.1:9/token'),
    ("only-separators", "Bearer ,,, = ,="),
    ("latin-1", 'Bearer realm="https://h\xe9\xff/token"'),
    ("header-too-long", 'Bearer realm="https://' + "a" * 70_000 + '"'),
]


@pytest.mark.parametrize("challenge", [c[1] for c in CHALLENGES], ids=[c[0] for c in CHALLENGES])
def test_malformed_challenges_are_unknown(stub: StubServer, challenge: str) -> None:
    stub.respond = lambda method, path, headers: StubAnswer(401, {"WWW-Authenticate": challenge})
    answer = _check(f"{stub.host}/org/app:v1", auth=BASIC, insecure=True)
    _unknown(answer)


@pytest.mark.registry
def test_a_token_realm_elsewhere_is_verified_even_when_the_registry_skips_it(
    workdir: Path,
) -> None:
    # The registry is trusted without verification (skip_tls_verify, as Kaniko's
    # --skip-tls-verify-registry); its realm, on another host with a self-signed certificate,
    # is not: the credentials are not sent there. Before: they were.
    cert = write_self_signed_cert(workdir, "realm")
    realm = StubServer(
        lambda method, path, headers: StubAnswer(200, {}, b'{"token": "t"}'), cert=cert
    ).start()
    port = realm.host.rsplit(":", 1)[1]
    registry = RegistryServer(
        workdir / "realm-elsewhere", RegistryMode.TLS_TOKEN, realm=f"https://localhost:{port}/token"
    )
    registry.start()
    try:
        answer = _check(registry.image("org/app", "v1"), auth=BASIC, skip_tls_verify=True)
    finally:
        registry.stop()
        realm.stop()
    _unknown(answer, "localhost:", "not trusted", "registry's own host only")
    assert realm.requests == []


@pytest.mark.registry
def test_the_registrys_own_token_server_needs_its_ca_when_tls_is_skipped(workdir: Path) -> None:
    # A real token server on another port: another origin, verified. With its CA it works.
    registry = RegistryServer(workdir / "token", RegistryMode.TLS_TOKEN)
    registry.start()
    try:
        digest = push_test_image(registry, "org/app", "v1")
        image = registry.image("org/app", "v1")
        user = f"RegistryAuth(username={registry.username!r}, password={registry.password!r})"
        assert registry.token_server is not None
        before = len(registry.token_server.requests)  # (the push asked for a token)
        skipped = _check(image, auth=user, skip_tls_verify=True)
        asked = registry.token_server.requests[before:]
        trusted = _check(image, auth=user, skip_tls_verify=True, ca_file=str(registry.ca_file))
    finally:
        registry.stop()
    _unknown(skipped, "not trusted")
    assert asked == []
    assert (trusted["presence"], trusted["digest"]) == ("exists", digest)


# -- redirects ------------------------------------------------------------------------------------


def test_an_https_registry_redirecting_to_http_is_not_followed(
    stub: StubServer, workdir: Path
) -> None:
    # Before: the manifest was read over plain HTTP from wherever the redirect pointed.
    target = stub
    target.respond = lambda method, path, headers: StubAnswer(
        200, {"Docker-Content-Digest": "sha256:" + "a" * 64}
    )
    tls = StubServer(
        lambda method, path, headers: StubAnswer(307, {"Location": f"http://{target.host}{path}"}),
        cert=write_self_signed_cert(workdir, "redirect"),
    ).start()
    try:
        answer = _check(f"{tls.host}/org/app:v1", auth=BASIC, skip_tls_verify=True)
    finally:
        tls.stop()
    _unknown(answer, "redirected", "plain HTTP")
    assert target.requests == []


# -- a server that trickles -----------------------------------------------------------------------

TRICKLES = [
    ("status-line", b"HTTP/1.1 200 OK\r\n", b"X-Slow: y\r\n", False),
    ("headers-over-tls", b"HTTP/1.1 200 OK\r\n", b"X-Slow: y\r\n", True),
    ("body", b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"{", False),
]


@pytest.mark.parametrize(
    ("head", "tail", "tls"), [t[1:] for t in TRICKLES], ids=[t[0] for t in TRICKLES]
)
def test_a_registry_trickling_one_byte_a_second_ends_at_the_deadline(
    head: bytes, tail: bytes, tls: bool, workdir: Path
) -> None:
    # Before: each byte came within the per-read timeout, so the check never ended.
    cert = write_self_signed_cert(workdir, "trickle") if tls else None
    server = TrickleServer(head, tail, interval=0.5, cert=cert).start()
    try:
        image = f"{server.host}/org/app:v1"
        if tls:
            answer = _check(image, timeout=2, skip_tls_verify=True)
        else:
            answer = _check(image, timeout=2, insecure=True)
    finally:
        server.stop()
    _unknown(answer, "no answer", "within 2s")
    assert answer["seconds"] < 3.5
    assert server.requests >= 1


# -- what a registry says, printed ----------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 403, 500])
def test_error_codes_reach_the_reason_without_terminal_control(
    stub: StubServer, status: int
) -> None:
    # Before: the code went into the reason (and so to stderr) as it was.
    code = "MANIFEST_UNKNOWN\x1b]0;pwned\x07\x1bc\x9b2J" + "Z" * 10_000
    body = json.dumps({"errors": [{"code": code}]}).encode()
    # No HEAD on manifests (405): the check asks with GET, whose answer has the body.
    stub.respond = lambda method, path, headers: StubAnswer(
        405 if method == "HEAD" else status, {}, body
    )
    answer = _check(f"{stub.host}/org/app:v1", insecure=True)
    assert CONTROL.search(answer["reason"]) is None, answer
    assert "MANIFEST_UNKNOWN" in answer["reason"]
    assert len(answer["reason"]) < 300
