"""``polymagic inspect`` and ``%polybuild inspect`` against Debian's registry: the digest, the
config and the layers of a pushed image, a multi-platform index read down to one platform's
manifest, a missing tag and a refused login as a reason (exit 1), and the notebook's table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from polymagic.cli.main import main
from polymagic.registry.image_reading import read_image
from tests.registry.server import ManifestKind, RegistryServer, push_test_image


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["inspect", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def test_inspect_shows_the_pushed_image(http_registry: RegistryServer, repository: str) -> None:
    digest = push_test_image(http_registry, repository, "v1")
    code, out, err = _run(http_registry.image(repository, "v1"), "--insecure", "-o", "json")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown["digest"] == digest
    assert shown["config"]["digest"].startswith("sha256:")
    assert len(shown["layers"]) == 1
    code, out, _ = _run(f"{http_registry.host}/{repository}@{digest}", "--insecure")
    assert code == 0
    assert out.splitlines()[1].split() == ["digest", digest]


def test_an_index_is_read_down_to_one_platform(
    http_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "multi", kind=ManifestKind.OCI_INDEX)
    details = read_image(http_registry.image(repository, "multi"), auth=None, insecure=True)
    assert details.reason == ""
    assert details.digest == digest
    assert details.platforms
    assert details.manifest_digest != digest
    assert details.config_digest is not None


def test_a_missing_tag_or_a_refused_login_is_a_reason(
    http_registry: RegistryServer,
    basic_auth_registry: RegistryServer,
    repository: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _run(http_registry.image(repository, "nope"), "--insecure")
    assert code == 1
    assert "MANIFEST_UNKNOWN" in err or "404" in err, err
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(
        json.dumps(basic_auth_registry.docker_config(password="wrong-password"))
    )
    image = basic_auth_registry.image(repository, "v1")
    code, out, err = _run(image, "--skip-tls-verify")
    assert code == 1
    assert "wrong-password" not in out + err
    assert "not read" in out


def test_the_notebook_shows_a_table(http_registry: RegistryServer, repository: str) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from tests.notebook.shell import new_shell

    digest = push_test_image(http_registry, repository, "v1")
    shell = new_shell()
    try:
        shell.run_line_magic("load_ext", "polymagic")
        image = http_registry.image(repository, "v1")
        view = shell.run_line_magic(
            "polybuild", f"inspect {image} --insecure-registry {http_registry.host}"
        )
        bundle = view._repr_mimebundle_()
        assert "<table>" in bundle["text/html"]
        assert f"<code>{digest}</code>" in bundle["text/html"]
        assert digest in bundle["text/plain"]
    finally:
        shell.run_line_magic("unload_ext", "polymagic")
        InteractiveShell.clear_instance()
