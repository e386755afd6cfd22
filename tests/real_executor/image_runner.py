"""Running a pushed image under runc, as a node would run a pod of it.

This module owns three steps, each usable alone:

- :func:`unpack_image`: read an image from a test registry by digest (manifest, config, layers,
  through :class:`~tests.real_executor.registry_view.RegistryView`) and unpack its layers in
  order into a root filesystem, applying the OCI whiteouts (``.wh.NAME`` removes NAME of the
  layers below, ``.wh..wh..opq`` empties its folder of them). A member whose path is absolute,
  holds ``..``, or passes through a symlink (which could lead out of the root) is refused with
  :class:`UnsafeLayer`, and so is a hard link whose target does; device files and FIFOs are
  skipped (``/dev`` is the runtime's tmpfs);
- :func:`bundle_config`: the runc ``config.json`` for the image's config — its ``Env``,
  ``WorkingDir``, ``User`` (numeric, or a name read from the image's ``/etc/passwd``),
  ``Entrypoint`` + ``Cmd`` or a command given instead — with the mounts, masked paths and
  capabilities the test node's runtime gives every container (:mod:`tests.cluster.runc_runtime`),
  and a network namespace of its own (only loopback: what runs must not need the network);
- :func:`run_image` / :meth:`UnpackedImage.run`: ``runc run`` it with a time limit, returning the
  exit code, stdout and stderr; on timeout the container is killed and :class:`ImageTimeout`
  raised. Every container and bundle is removed afterwards.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import posixpath
import secrets
import shutil
import subprocess
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.control_plane import start_child
from tests.cluster.runc_runtime import (
    DEFAULT_CAPABILITIES,
    MASKED_PATHS,
    READONLY_PATHS,
    RUNC,
    STATE_PARENT,
    _cgroup_hierarchies,
    _remove_containers,
    _runc,
    _runc_list,
    standard_mounts,
)
from tests.real_executor.registry_view import Image, RegistryView

__all__ = [
    "CGROUP_PARENT",
    "ImageTimeout",
    "Ran",
    "UnpackedImage",
    "UnsafeLayer",
    "bundle_config",
    "run_image",
    "unpack_image",
    "unpack_layers",
]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CGROUP_PARENT = "polymagic-images"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnsafeLayer(Exception):
    """A layer member would land outside the root filesystem (or through a symlink)."""


class ImageTimeout(Exception):
    """The command ran past its time limit; the container was killed."""


@dataclass(frozen=True)
class Ran:
    """What one command in the image did."""

    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class UnpackedImage:
    """An image's root filesystem on disk and its config (the ``config`` of the image config)."""

    rootfs: Path
    config: dict[str, Any]
    digest: str

    def run(self, command: Sequence[str] | None = None, *, timeout: float = 60) -> Ran:
        """Run ``command`` (default: the image's entrypoint and cmd) in a fresh container."""
        return run_image(self, command, timeout=timeout)

    def remove(self) -> None:
        """Remove the unpacked root filesystem (hundreds of MB for a Python image)."""
        shutil.rmtree(self.rootfs, ignore_errors=True)


# -- unpacking


def _decompressed(blob: bytes, media_type: str) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if media_type.endswith(("+zstd", ".zstd")):
        raise UnsafeLayer(f"{media_type}: zstd layers are not supported here")
    return blob


def _member_path(name: str) -> str:
    """The member's path relative to the root; :class:`UnsafeLayer` for absolute or ``..``."""
    if name.startswith("/"):
        raise UnsafeLayer(f"{name!r}: an absolute path in a layer")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeLayer(f"{name!r}: '..' in a layer path")
    return "/".join(parts)


def _parent_inside(rootfs: Path, relative: str) -> Path:
    """``rootfs/relative``, after checking that no folder on its way is a symlink."""
    current = rootfs
    for part in relative.split("/")[:-1]:
        current = current / part
        if current.is_symlink():
            raise UnsafeLayer(f"{relative!r}: its folder {part!r} is a symlink in the image")
    return rootfs / relative


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


def _apply_whiteouts(rootfs: Path, members: list[tarfile.TarInfo]) -> None:
    """Remove from the layers below what this layer's whiteouts name."""
    for member in members:
        relative = _member_path(member.name)
        base = relative.rpartition("/")[2]
        if not base.startswith(WHITEOUT):
            continue
        directory = _parent_inside(rootfs, relative).parent
        if base == OPAQUE:
            if directory.is_dir() and not directory.is_symlink():
                for child in list(directory.iterdir()):
                    _remove(child)
            continue
        hidden = base[len(WHITEOUT) :]
        if hidden in ("", ".", ".."):
            raise UnsafeLayer(f"{member.name!r}: a whiteout of nothing")
        _remove(directory / hidden)


def _extract(archive: tarfile.TarFile, rootfs: Path, member: tarfile.TarInfo) -> None:
    relative = _member_path(member.name)
    if not relative or relative.rpartition("/")[2].startswith(WHITEOUT):
        return
    if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
        return  # devices and FIFOs: the runtime gives /dev its own tmpfs
    target = _parent_inside(rootfs, relative)
    if member.islnk():
        linked = _member_path(member.linkname)
        source = _parent_inside(rootfs, linked)
        if source.is_symlink() or not source.exists():
            raise UnsafeLayer(f"{member.name!r}: a hard link to {member.linkname!r}, not a file")
    if target.is_symlink() or (target.exists() and not (member.isdir() and target.is_dir())):
        _remove(target)  # never write through what a lower layer left there
    member = member.replace(name=relative, deep=False)
    if member.islnk():
        member = member.replace(linkname=_member_path(member.linkname), deep=False)
    archive.extract(member, rootfs, numeric_owner=True, filter="fully_trusted")


def unpack_layers(layers: Sequence[bytes], rootfs: Path) -> None:
    """Unpack layer tarballs (compressed or not), lowest first, into ``rootfs``."""
    rootfs.mkdir(parents=True, exist_ok=True)
    for blob in layers:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as archive:
            members = archive.getmembers()
            _apply_whiteouts(rootfs, members)
            for member in members:
                _extract(archive, rootfs, member)


def unpack_image(view: RegistryView, repository: str, digest: str, rootfs: Path) -> UnpackedImage:
    """The image ``repository@digest`` of ``view``'s registry, unpacked into ``rootfs``."""
    image: Image = view.image(repository, digest)
    if image.digest != digest:
        raise UnsafeLayer(f"the registry answered {image.digest} for {digest}")
    layers = []
    for layer in image.manifest["layers"]:
        blob = view.blob(repository, layer["digest"])
        try:
            layers.append(_decompressed(blob, layer.get("mediaType", "")))
        except (OSError, EOFError, zlib.error) as error:
            raise UnsafeLayer(f"layer {layer['digest']}: {error}") from error
    unpack_layers(layers, rootfs)
    return UnpackedImage(rootfs, dict(image.config.get("config") or {}), digest)


# -- the bundle


def _lookup(rootfs: Path, file: str, name: str) -> list[str] | None:
    """The fields of ``name``'s line in the image's ``/etc/passwd`` or ``/etc/group``, its id
    (the third) checked to be a number (None: not there)."""
    path = rootfs / "etc" / file
    if path.is_symlink() or not path.is_file():
        return None
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) > 3 and name in (fields[0], fields[2]) and fields[2].isdigit():
            return fields
    return None


def image_user(rootfs: Path, user: str) -> dict[str, int]:
    """The OCI process user for the image config's ``User`` (``uid``, ``name``, ``uid:gid``)."""
    name, _, group = (user or "0").partition(":")
    entry = _lookup(rootfs, "passwd", name)
    if entry is None and not name.isdigit():
        raise ValueError(f"User {user!r}: no such user in the image's /etc/passwd")
    uid = int(entry[2]) if entry else int(name)
    # As Docker: the user's own group when the image names none (0 for an unknown uid).
    gid = int(entry[3]) if entry and entry[3].isdigit() else 0
    if group:
        found = _lookup(rootfs, "group", group)
        if found is None and not group.isdigit():
            raise ValueError(f"User {user!r}: no such group in the image's /etc/group")
        gid = int(found[2]) if found else int(group)
    return {"uid": uid, "gid": gid}


def bundle_config(
    image: UnpackedImage, argv: Sequence[str], *, rootfs: str, cgroups_path: str
) -> dict[str, Any]:
    """The ``config.json`` of a container of ``image`` running ``argv``."""
    env = list(image.config.get("Env") or [])
    if not any(item.startswith("PATH=") for item in env):
        env.insert(0, DEFAULT_PATH)
    capabilities = list(DEFAULT_CAPABILITIES)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": image_user(image.rootfs, str(image.config.get("User") or "")),
            "args": list(argv),
            "env": env,
            "cwd": posixpath.normpath("/" + str(image.config.get("WorkingDir") or "").lstrip("/")),
            "capabilities": {k: capabilities for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": "image",
        "mounts": standard_mounts(),
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }


# -- running


def _command(image: UnpackedImage, command: Sequence[str] | None) -> list[str]:
    if command is not None:
        return list(command)
    argv = [*(image.config.get("Entrypoint") or []), *(image.config.get("Cmd") or [])]
    if not argv:
        raise ValueError("the image has no Entrypoint or Cmd: give a command")
    return [str(a) for a in argv]


def run_image(
    image: UnpackedImage, command: Sequence[str] | None = None, *, timeout: float = 60
) -> Ran:
    """``runc run`` ``command`` in ``image`` (its rootfs is used in place, not copied)."""
    state_root = STATE_PARENT / f"images-{os.getpid()}"
    state_root.mkdir(parents=True, exist_ok=True)
    container = secrets.token_hex(16)
    bundle = image.rootfs.parent / f"bundle-{container[:12]}"
    bundle.mkdir()
    config = bundle_config(
        image,
        _command(image, command),
        rootfs=str(image.rootfs),
        cgroups_path=f"/{CGROUP_PARENT}/{container}",
    )
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    process = start_child(
        [RUNC, "--root", str(state_root), "run", "--bundle", str(bundle), container],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _runc(state_root, "kill", container, "KILL")
            out, err = process.communicate(timeout=30)
            raise ImageTimeout(
                f"{' '.join(config['process']['args'])} ran past {timeout} s and was killed;"
                f" it printed:\n{out.decode(errors='replace')}{err.decode(errors='replace')}"
            ) from None
        return Ran(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        _remove_containers(state_root, [c for c in _runc_list(state_root) if c == container])
        shutil.rmtree(bundle, ignore_errors=True)
        with contextlib.suppress(OSError):
            state_root.rmdir()
        _remove_cgroup(container)


def _remove_cgroup(container: str) -> None:
    """The container's cgroup (runc removes it when the process ends; this is in case it did
    not) and their parent when no other run still uses it."""
    for hierarchy in _cgroup_hierarchies():
        for path in (hierarchy / CGROUP_PARENT / container, hierarchy / CGROUP_PARENT):
            with contextlib.suppress(OSError):
                path.rmdir()
