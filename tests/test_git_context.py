"""git build contexts: a `git` init (or git connection) becomes Kaniko's git:// context."""

from __future__ import annotations

import pytest
import yaml

from polymagic.errors import ConnectionsError, SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED


def _pod_args(
    git: dict[str, object],
    connections: list[dict[str, object]] | None = None,
    path: str | None = None,
) -> list[str]:
    op = yaml.safe_load(SEED)
    init: dict[str, object] = {"git": git}
    if path:
        init["path"] = path
    if "connection" in git:
        init["connection"] = git.pop("connection")
    op["runPatch"]["init"].insert(0, init)
    build = compile_operation(op, connections=load_connections([*REGISTRY, *(connections or [])]))
    return list(build_manifests(build).pod["spec"]["containers"][0]["args"])


@pytest.mark.parametrize(
    ("git", "context"),
    [
        ({"url": "https://github.com/acme/app"}, "git://github.com/acme/app.git"),
        (
            {"url": "https://github.com/acme/app.git", "revision": "main"},
            "git://github.com/acme/app.git#refs/heads/main",
        ),
        (
            {"url": "github.com/acme/app", "revision": "refs/tags/v1.2"},
            "git://github.com/acme/app.git#refs/tags/v1.2",
        ),
        (
            {"url": "https://github.com/acme/app", "revision": "a" * 40},
            "git://github.com/acme/app.git##" + "a" * 40,
        ),
    ],
    ids=["default-branch", "branch", "tag", "commit"],
)
def test_git_init_becomes_the_kaniko_context(git: dict[str, object], context: str) -> None:
    args = _pod_args(git)
    assert args[args.index("-c") + 1] == context
    assert "--dockerfile=/plx-context/artifacts/Dockerfile" in args


def test_sub_path_and_connection_credentials() -> None:
    git_connection = {
        "name": "repo",
        "kind": "git",
        "schema": {"url": "https://gitlab.example.com/team/app"},
        "secret": {"name": "git-token"},
    }
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"].insert(
        0, {"git": {"revision": "dev"}, "connection": "repo", "path": "services/api"}
    )
    build = compile_operation(op, connections=load_connections([*REGISTRY, git_connection]))
    manifests = build_manifests(build)
    container = manifests.pod["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("-c") + 1] == "git://gitlab.example.com/team/app.git#refs/heads/dev"
    assert "--context-sub-path=services/api" in args
    assert {"secretRef": {"name": "git-token"}} in container["envFrom"]
    assert "git-token" in manifests.secrets
    # The compiled component stays Polyaxon's.
    assert build.run_dict["container"]["args"][:2] == ["-c", "/plx-context/artifacts"]


def test_git_init_without_a_repository_is_an_error() -> None:
    with pytest.raises(SpecError, match="no repository"):
        _pod_args({"revision": "main"})


# --------------------------------------------------------------------------- credentials in URLs

CREDENTIAL_URLS = [
    ("https://alice:TOKEN@github.com/acme/app", "https://***@github.com/acme/app"),
    ("https://TOKEN@github.com/acme/app.git", "https://***@github.com/acme/app.git"),
    ("TOKEN@github.com/acme/app", "***@github.com/acme/app"),
    ("ssh://TOKEN@host/app", "ssh://***@host/app"),
]
CREDENTIAL_IDS = ["user-and-token", "token-as-user", "no-scheme", "ssh"]


def assert_refused_without_the_token(error: SpecError, masked: str, field: str) -> None:
    message = str(error)
    assert "TOKEN" not in message
    assert "alice" not in message
    assert f"`{masked}` carries credentials" in message
    assert "GIT_USERNAME and GIT_PASSWORD" in message
    assert field in message
    assert "\n" not in message


@pytest.mark.parametrize(("url", "masked"), CREDENTIAL_URLS, ids=CREDENTIAL_IDS)
def test_a_git_url_with_credentials_is_refused(url: str, masked: str) -> None:
    with pytest.raises(SpecError, match="carries credentials") as caught:
        _pod_args({"url": url})

    assert_refused_without_the_token(caught.value, masked, "runPatch.init[0].git.url: ")
    assert caught.value.__cause__ is not None
    assert "TOKEN" not in str(caught.value.__cause__)  # nor in a full traceback


@pytest.mark.parametrize(("url", "masked"), CREDENTIAL_URLS, ids=CREDENTIAL_IDS)
def test_a_git_connection_url_with_credentials_is_refused(url: str, masked: str) -> None:
    connection = {"name": "repo", "kind": "git", "schema": {"url": url}}

    with pytest.raises(ConnectionsError, match="carries credentials") as caught:
        load_connections([*REGISTRY, connection])

    assert_refused_without_the_token(caught.value, masked, "[1].schema: `url` ")


def test_a_git_url_with_credentials_from_a_param_is_refused() -> None:
    op = yaml.safe_load(SEED)
    op["params"]["repo"] = {"value": "github.com/acme/app", "contextOnly": True}
    op["runPatch"]["init"].insert(0, {"git": {"url": "{{ repo }}"}})
    catalog = load_connections(REGISTRY)
    # The param's own value is fine: it becomes the git init's URL.
    fine = compile_operation(op, connections=catalog)
    assert fine.run_dict["init"][0] == {"git": {"url": "github.com/acme/app"}}

    with pytest.raises(SpecError, match="carries credentials") as caught:
        compile_operation(
            op, params=["repo=https://alice:TOKEN@github.com/acme/app"], connections=catalog
        )

    assert_refused_without_the_token(
        caught.value, "https://***@github.com/acme/app", "run.init[0].git.url: "
    )


@pytest.mark.parametrize(
    "url",
    ["https://github.com/acme/app", "github.com/acme/app@v1", "https://host:8443/a/b?x=@"],
    ids=["plain", "at-in-path", "at-in-query"],
)
def test_urls_without_user_info_are_kept(url: str) -> None:
    args = _pod_args({"url": url})
    assert args[args.index("-c") + 1].startswith("git://")
