"""Hostile registry answers to ``polymagic inspect``, each run as a child bounded to 10 s and
1 GiB while the stub server runs here: a huge manifest or config is not read past its bound, a
deep or broken document, a blob that is not what its digest says, an index naming nothing,
100 000 annotations, control characters in values and a server trickling one byte a second
all end with a printable reason (exit 1) or a bounded answer, never a hang."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.hostile.bounded import Bounded, run_cli_bounded
from tests.registry.server import StubAnswer, StubServer, TrickleServer

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"a": "b"}}})


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _manifest(config: bytes, **extra: Any) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config),
            "size": len(config),
        },
        "layers": [],
        **extra,
    }
    return json.dumps(document).encode()


Routes = dict[str, StubAnswer]


def _server(routes: Routes) -> StubServer:
    def respond(method: str, path: str, headers: dict[str, str]) -> StubAnswer:
        return routes.get(
            path.partition("?")[0], StubAnswer(404, body=b'{"errors":[{"code":"NOT_FOUND"}]}')
        )

    return StubServer(respond).start()


@pytest.fixture
def serve() -> Iterator[Callable[[Routes], StubServer]]:
    started: list[StubServer] = []

    def start(routes: Routes) -> StubServer:
        server = _server(routes)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _inspect(host: str, *extra: str) -> Bounded:
    image = f"{host}/org/app:v1"
    argv = ["inspect", image, "--insecure", "--registry-timeout", "4", *extra]
    return run_cli_bounded(argv, seconds=10)


def _answer(result: Bounded) -> dict[str, Any]:
    assert not result.timed_out, result.explain()
    assert result.seconds < 8, result.explain()
    assert CONTROL.search(result.stdout + result.stderr) is None, result.explain()
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def _routes(
    manifest: bytes, config: bytes | None = None, *, config_digest: str | None = None
) -> Routes:
    routes = {
        "/v2/org/app/manifests/v1": StubAnswer(200, {"Content-Type": MANIFEST_TYPE}, manifest),
    }
    if config is not None:
        routes[f"/v2/org/app/blobs/{config_digest or _digest(config)}"] = StubAnswer(
            200, {}, config
        )
    return routes


def test_a_well_formed_image_is_read(serve: Callable[[Routes], StubServer]) -> None:
    config = CONFIG.encode()
    manifest = _manifest(config, annotations={"org.opencontainers.image.title": "app"})
    answer = _answer(_inspect(serve(_routes(manifest, config)).host, "-o", "json"))
    assert answer["reason"] is None
    assert answer["digest"] == _digest(manifest)
    assert answer["annotations"] == {"org.opencontainers.image.title": "app"}
    assert answer["labels"] == {"a": "b"}


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: _routes(b"{" + b" " * (20 << 20) + b"}"), "larger than 4 MiB"),
        (lambda: _routes(b"[" * 200_000 + b"]" * 200_000), "not JSON"),
        (lambda: _routes(b'{"schemaVersion": 2, "config": "x"' + b"}"), "names no config"),
        (
            lambda: _routes(_manifest(b"{}"), b'{"x": 1}', config_digest=_digest(b"{}")),
            "with another digest",
        ),
        (
            lambda: _routes(
                _manifest(b"{" + b" " * (30 << 20) + b"}"), b"{" + b" " * (30 << 20) + b"}"
            ),
            "larger than 8 MiB",
        ),
        (
            lambda: _routes(
                json.dumps({"schemaVersion": 2, "manifests": [{"digest": "x"}] * 100_000}).encode()
            ),
            "names no manifest",
        ),
        (
            lambda: _routes(json.dumps({"a": {"b": {"c": [[[[[[[[]]]]]]]]}}}).encode() * 1),
            "names no config",
        ),
    ],
    ids=[
        "huge-manifest",
        "deep-manifest",
        "no-config",
        "config-not-its-digest",
        "huge-config",
        "empty-index",
        "odd-manifest",
    ],
)
def test_a_hostile_answer_ends_with_a_reason(
    serve: Callable[[Routes], StubServer], make: Callable[[], Routes], words: str
) -> None:
    result = _inspect(serve(make()).host, "-o", "json")
    answer = _answer(result)
    assert result.returncode == 1, result.explain()
    assert words in answer["reason"], answer
    assert words in result.stderr


def test_many_annotations_and_control_characters_are_bounded_and_shown(
    serve: Callable[[Routes], StubServer],
) -> None:
    config = json.dumps({"config": {"Labels": {"evil\x1b[2J": "\u202eexe.txt\x07"}}}).encode()
    many = {"title": "x" * 100_000, **{f"k{i}": "v" * 10 for i in range(100_000)}}
    manifest = _manifest(config, annotations=many)
    host = serve(_routes(manifest, config)).host
    answer = _answer(_inspect(host, "-o", "json"))
    assert answer["reason"] is None
    assert len(answer["annotations"]) == 1000
    assert len(answer["annotations"]["title"]) == 4097  # 4096 characters and an ellipsis
    text = _inspect(host)
    assert text.returncode == 0, text.explain()
    assert CONTROL.search(text.stdout) is None
    assert "label evil " in text.stdout  # the terminal sequence is taken out
    assert "\\u202eexe.txt\\x07" in text.stdout  # the rest shown, escaped


def test_a_trickling_registry_is_cut_off_at_the_deadline() -> None:
    server = TrickleServer(interval=0.5).start()
    try:
        result = _inspect(server.host, "-o", "json")
    finally:
        server.stop()
    answer = _answer(result)
    assert result.returncode == 1, result.explain()
    assert "within 4s" in answer["reason"], answer


# -- the SBOM's layer reads ---------------------------------------------------------------------


def _image_with_layer(served: bytes, named: bytes) -> Routes:
    """An image whose one layer is ``named`` in the manifest but ``served`` by the blob URL."""
    config = CONFIG.encode()
    layer = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": _digest(named),
        "size": len(named),
    }
    routes = _routes(_manifest(config, layers=[layer]), config)
    routes[f"/v2/org/app/blobs/{_digest(named)}"] = StubAnswer(200, {}, served)
    return routes


def _sbom(host: str) -> Bounded:
    return run_cli_bounded(
        ["sbom", f"{host}/org/app:v1", "--insecure", "--registry-timeout", "4"], seconds=10
    )


@pytest.mark.parametrize(
    ("served", "named", "words"),
    [
        (b"\x1f\x8b" + b"x" * 100, b"\x1f\x8b" + b"y" * 100, "holds bytes of digest"),
        (b"z" * (9 << 20), b"z" * (9 << 20) + b"!", "did not serve the byte range"),
    ],
    ids=["layer-not-its-digest", "no-ranges-for-a-big-layer"],
)
def test_a_layer_the_registry_lies_about_is_a_warning_in_the_sbom(
    serve: Callable[[Routes], StubServer], served: bytes, named: bytes, words: str
) -> None:
    result = _sbom(serve(_image_with_layer(served, named)).host)
    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    document = json.loads(result.stdout)
    warnings = [p["value"] for p in document["metadata"].get("properties", [])]
    assert any(words in warning for warning in warnings), warnings
    assert words in result.stderr


# -- the referrers index ------------------------------------------------------------------------

_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def _many_referrers() -> bytes:
    """5,000 SBOM referrers in under 1 MiB, each with its own digest."""
    entries = [
        {
            "mediaType": MANIFEST_TYPE,
            "digest": f"sha256:{i:064x}",
            "size": 1,
            "artifactType": "application/vnd.cyclonedx+json",
        }
        for i in range(5000)
    ]
    return json.dumps({"manifests": entries}, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("index", "found"),
    [
        (b'{"manifests": [' * 50_000 + b"]}" * 50_000, None),
        (b'{"manifests": [' + b'{"a": "' + b"x" * (16 << 20) + b'"}]}', None),
        (_many_referrers(), f"sha256:{999:064x}"),
    ],
    ids=["deep", "16-MiB", "5000-entries"],
)
def test_a_hostile_referrers_index_ends_within_its_bounds(
    serve: Callable[[Routes], StubServer], index: bytes, found: str | None
) -> None:
    """Read at most 1 MiB of it (a larger or deeper one is no index: the tag is asked next);
    of a readable one, the first 1,000 entries (the last of them is the one read)."""
    assert found is not None or len(index) > (1 << 20) or index.count(b"[") > 1000
    config = CONFIG.encode()
    manifest = _manifest(config)
    routes = _routes(manifest, config)
    routes[f"/v2/org/app/referrers/{_digest(manifest)}"] = StubAnswer(
        200, {"Content-Type": _INDEX_TYPE}, index
    )
    result = _inspect(serve(routes).host, "-o", "json")
    assert not result.timed_out, result.explain()
    assert result.seconds < 8, result.explain()
    sbom = json.loads(result.stdout)["sbom"]
    assert sbom["attached"] is False, sbom
    if found is None:  # no index: the tag scheme was asked, and the tag is not there
        assert sbom["reference"].endswith(".sbom"), sbom
        assert sbom["note"] is None, sbom
    else:  # the referrer named was asked for, and the stub has no such manifest
        assert sbom["reference"].endswith(f"/org/app@{found}"), sbom
