"""Every attached document is also written locally, named by the image's digest, and nothing a
registry answers can choose that path."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.app.attest import attestations_folder, keep_copy

DIGEST = "sha256:" + "ab" * 32


def test_the_copy_lands_in_the_data_home_named_by_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    line, written = keep_copy(DIGEST, ".sbom", b'{"bomFormat": "CycloneDX"}')
    path = tmp_path / "polymagic" / "attestations" / f"sha256-{'ab' * 32}.sbom.cdx.json"
    assert written
    assert line == f"a copy in {path}"
    assert path.read_bytes() == b'{"bomFormat": "CycloneDX"}'
    assert attestations_folder() == path.parent
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left


def test_without_xdg_data_home_it_is_under_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert attestations_folder() == tmp_path / ".local/share/polymagic/attestations"


@pytest.mark.parametrize(
    "digest", ["sha256:../../etc/passwd", "sha256:" + "AB" * 32, DIGEST + "\n"]
)
def test_a_digest_that_is_not_one_writes_nothing(
    digest: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    line, written = keep_copy(digest, ".att", b"{}")
    assert not written
    assert line.startswith("warning: no copy written:"), line
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "polymagic").write_text("a file where the folder would be")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    line, written = keep_copy(DIGEST, ".att", b"{}")
    assert not written
    assert line.startswith("warning: no copy written to "), line
