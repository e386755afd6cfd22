"""The image runner (:mod:`tests.real_executor.image_runner`): a pushed image unpacked from the
registry and run under runc with its own config; layers' whiteouts applied; a layer that would
write outside the root filesystem refused."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tests.cluster.runc_runtime import STATE_PARENT, RuncEngine, _cgroup_hierarchies
from tests.real_executor.image_runner import (
    CGROUP_PARENT,
    ImageTimeout,
    UnpackedImage,
    UnsafeLayer,
    unpack_image,
    unpack_layers,
)
from tests.real_executor.python_base import PYTHON_REPOSITORY, PYTHON_TAG
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer


def _layer(*entries: tuple[str, bytes | None, str]) -> bytes:
    """A tarball of (name, content, kind): kind "file", "dir" or "symlink" (content: target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, (content or b"").decode()
                archive.addfile(info)
            else:
                info.size = len(content or b"")
                archive.addfile(info, io.BytesIO(content or b""))
    return buffer.getvalue()


def test_the_python_base_runs_its_python_under_runc(
    runc_engine: RuncEngine,
    plain_registry: RegistryServer,
    python_base: str,
    tmp_path: Path,
) -> None:
    view = RegistryView(plain_registry)
    digest = view.digest(PYTHON_REPOSITORY, PYTHON_TAG)
    assert digest is not None
    image = unpack_image(view, PYTHON_REPOSITORY, digest, tmp_path / "rootfs")
    assert image.config["Cmd"] == ["python3"]
    try:
        ran = image.run(
            ["python3", "-c", "import sys, os; print(1, sys.version_info[:2], os.getcwd())"]
        )
        assert (ran.returncode, ran.stderr) == (0, "")
        assert ran.stdout == "1 (3, 11) /\n"
        # A failing command's exit code and stderr come back; the network is the container's own.
        failed = image.run(["python3", "-c", "import nosuchmodule"])
        assert failed.returncode == 1
        assert "ModuleNotFoundError: No module named 'nosuchmodule'" in failed.stderr
        interfaces = image.run(["python3", "-c", "import socket; print(socket.if_nameindex())"])
        assert interfaces.stdout.strip() == "[(1, 'lo')]", interfaces
        with pytest.raises(ImageTimeout, match=r"ran past 2 s and was killed"):
            image.run(["python3", "-c", "import time; time.sleep(60)"], timeout=2)
    finally:
        image.remove()
    assert runc_engine.leftovers() == []
    # Nothing of the runs is left: no runc state, bundle or cgroup.
    assert not (STATE_PARENT / f"images-{os.getpid()}").exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    assert [h for h in _cgroup_hierarchies() if (h / CGROUP_PARENT).exists()] == []


def test_whiteouts_remove_what_the_layers_below_hold(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    lower = _layer(
        ("etc", None, "dir"),
        ("etc/kept", b"1", "file"),
        ("etc/gone", b"2", "file"),
        ("opt", None, "dir"),
        ("opt/old", b"3", "file"),
        ("link", b"etc/kept", "symlink"),
    )
    upper = _layer(
        ("etc/.wh.gone", b"", "file"),
        ("opt/.wh..wh..opq", b"", "file"),
        ("opt/new", b"4", "file"),
        ("link", b"5", "file"),  # a file replaces the symlink; nothing is written through it
    )
    unpack_layers([lower, upper], rootfs)
    found = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    assert found == ["etc", "etc/kept", "link", "opt", "opt/new"]
    assert (rootfs / "etc/kept").read_bytes() == b"1"
    assert not (rootfs / "link").is_symlink()
    assert (rootfs / "link").read_bytes() == b"5"


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (_layer(("../escaped", b"x", "file")), r"'\.\.' in a layer path"),
        (_layer(("/etc/abs", b"x", "file")), r"an absolute path in a layer"),
        (
            _layer(("out", b"/tmp", "symlink"), ("out/escaped", b"x", "file")),
            r"its folder 'out' is a symlink",
        ),
        (_layer(("a/.wh...", b"", "file")), r"'\.\.' in a layer path|a whiteout of nothing"),
    ],
    ids=["dotdot", "absolute", "through-a-symlink", "whiteout-of-dotdot"],
)
def test_a_layer_that_would_write_outside_the_root_is_refused(
    tmp_path: Path, layer: bytes, match: str
) -> None:
    rootfs = tmp_path / "rootfs"
    with pytest.raises(UnsafeLayer, match=match):
        unpack_layers([layer], rootfs)
    assert not (tmp_path / "escaped").exists()


def test_the_image_user_and_workdir_come_from_its_config(tmp_path: Path) -> None:
    from tests.real_executor.image_runner import bundle_config

    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
    image = UnpackedImage(rootfs, {"User": "app", "WorkingDir": "/code", "Env": ["A=1"]}, "d")
    config = bundle_config(image, ["true"], rootfs=str(rootfs), cgroups_path="/x")
    assert config["process"]["user"] == {"uid": 1000, "gid": 1000}
    assert config["process"]["cwd"] == "/code"
    assert config["process"]["env"][-1] == "A=1"
    assert config["process"]["env"][0].startswith("PATH=")
    numeric = UnpackedImage(rootfs, {"User": "1234:5"}, "d")
    assert bundle_config(numeric, ["true"], rootfs="r", cgroups_path="/x")["process"]["user"] == {
        "uid": 1234,
        "gid": 5,
    }
    with pytest.raises(ValueError, match=r"User 'nobody': no such user"):
        bundle_config(
            UnpackedImage(rootfs, {"User": "nobody"}, "d"), ["true"], rootfs="r", cgroups_path="/x"
        )
