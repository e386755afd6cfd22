"""What a build says it will attach, and ``--sign``: the plan's ``attest:`` line (on by
default, off with ``--no-attest`` or the setting), the old ``--attest`` still taken, and signing
refused before anything is submitted when ``cosign`` is not on PATH (as on this machine: cosign
is neither in Debian nor installable without the Go module proxy). ``sign_digests`` runs a
stand-in ``cosign`` script that records its arguments: what polymagic asks of cosign."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from polymagic.app.signing import sign_digests
from polymagic.cli.main import main
from tests.data import SEED


def _build(tmp_path: Path, *argv: str) -> tuple[int, str]:
    op = tmp_path / "op.yaml"
    op.write_text(SEED)
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", str(op), "--dry-run", *argv], out=out, err=err)
    return code, err.getvalue()


@pytest.fixture(autouse=True)
def _no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    for name in ("POLYMAGIC_ATTEST", "POLYMAGIC_SIGN_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_the_plan_says_what_is_attached_and_where_that_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err = _build(tmp_path)
    assert code == 0, err
    assert "polymagic: attest: after the push, the image's SBOM and provenance are attached" in err
    assert "--no-attest to skip" in err
    code, err = _build(tmp_path, "--no-attest")
    assert "attest: no SBOM or provenance attached (from option --no-attest)" in err
    monkeypatch.setenv("POLYMAGIC_ATTEST", "false")
    code, err = _build(tmp_path)
    assert "attest: no SBOM or provenance attached (from $POLYMAGIC_ATTEST)" in err, err
    code, err = _build(tmp_path, "--attest")
    assert "attest: after the push" in err
    assert "(from option --attest" in err
    code, err = _build(tmp_path, "--attest", "--no-attest")
    assert code == 2
    assert "--attest and --no-attest: give one" in err


def test_sign_without_cosign_on_path_stops_before_anything_is_submitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, err = _build(tmp_path, "--sign", str(tmp_path / "cosign.key"))
    assert code == 2
    assert "`cosign` is not on PATH" in err
    assert "Kubernetes objects" not in err
    monkeypatch.setenv("POLYMAGIC_SIGN_KEY", str(tmp_path / "cosign.key"))
    code, err = _build(tmp_path)
    assert code == 2
    assert "--sign / setting `sign_key`" in err


def _stand_in(folder: Path, status: int) -> Path:
    folder.mkdir(exist_ok=True)
    record = folder / "argv"
    script = folder / "cosign"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {record}\necho "error: no such key" >&2\nexit {status}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


def test_sign_digests_asks_cosign_for_each_digest_without_a_public_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _stand_in(tmp_path / "bin", 0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    refs = ["r.example/app@sha256:" + "1" * 64, "r.example/app@sha256:" + "2" * 64]
    lines = sign_digests("k.key", refs, insecure=True)
    assert lines == [f"signed {ref} with cosign" for ref in refs]
    called = record.read_text().splitlines()
    assert called == [
        f"sign --key k.key --yes --tlog-upload=false --allow-insecure-registry {ref}"
        for ref in refs
    ]
    _stand_in(tmp_path / "bin", 1)
    [failed] = sign_digests("k.key", refs[:1], insecure=False)
    assert failed == f"warning: {refs[0]} not signed: cosign said: error: no such key"


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        ("ghcr.io/o/kaniko@sha256:" + "a" * 64, "sha256:" + "a" * 64),
        ("docker-pullable://ghcr.io/o/kaniko@sha256:" + "b" * 64, "sha256:" + "b" * 64),
        ("sha256:" + "c" * 64, "sha256:" + "c" * 64),
        ("", None),
        ("ghcr.io/o/kaniko:v1", None),
        ("sha256:short", None),
    ],
    ids=["repo-digest", "docker-pullable", "bare", "empty", "tag", "short"],
)
def test_the_executor_digest_is_read_from_the_containers_image_id(
    image_id: str, digest: str | None
) -> None:
    from polymagic.outcome.pod_state import image_id_digest

    assert image_id_digest(image_id) == digest
