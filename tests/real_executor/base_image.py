"""The real builds' small base image, made from Debian's ``busybox-static`` with umoci and skopeo.

This module owns making the image (once per test session) and pushing it to a test registry.
The image holds ``/bin/busybox`` and a symlink for each of its applets (``sh``, ``echo``,
``sleep``, ``printf``, ``head``, ``tr``...), ``/tmp``, ``/root``, and one thing busybox lacks:
``/usr/local/bin/pip3`` (and ``pip``), a small shell script standing in for pip. The seed operation runs
``pip3 install --no-cache-dir -U polyaxon``, which cannot reach PyPI from a build container
here; with this stand-in the seed builds with only its base image swapped. It prints pip-like
lines and writes :data:`PIP_MARKER` inside the image, so a test can find what the RUN step wrote.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.registry.server import RegistryServer

__all__ = ["BUSYBOX", "PIP_MARKER", "TOOLS", "make_base_layout", "missing_tools", "push_base"]

BUSYBOX = Path("/bin/busybox")
TOOLS = ("umoci", "skopeo")
LAYOUT_TAG = "base"
PIP_MARKER = "usr/local/lib/python3/site-packages/{package}/INSTALLED"
"""Where the ``pip3`` stand-in records a package (``{package}`` filled in)."""

PIP3_SCRIPT = """\
#!/bin/sh
# A stand-in for pip in polymagic's test base image (no network here): records each package.
[ "$1" = install ] || { echo "pip3 (test stand-in): only 'install' is supported" >&2; exit 2; }
shift
installed=""
for arg in "$@"; do
  case "$arg" in
    -*) continue ;;
  esac
  echo "Collecting $arg"
  dir="/usr/local/lib/python3/site-packages/$arg"
  mkdir -p "$dir" && echo "$arg installed by the test stand-in" > "$dir/INSTALLED" || exit 1
  installed="$installed $arg-0.0.0"
done
echo "Successfully installed${installed}"
"""


BASE_REPOSITORY = "base/busybox"
BASE_TAG = "1"
"""Where the real-executor registries hold the base image (``base/busybox:1``)."""


def missing_tools() -> list[str]:
    """What the image needs and this machine lacks (``.ci/setup`` installs it)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not BUSYBOX.is_file():
        missing.append(f"{BUSYBOX} (busybox-static)")
    return missing


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def make_base_layout(workdir: Path) -> Path:
    """An OCI layout in ``workdir`` holding the image under the tag ``base``; returns its path."""
    layout, bundle = workdir / "layout", workdir / "bundle"
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", f"{layout}:{LAYOUT_TAG}")
    _run("umoci", "unpack", "--image", f"{layout}:{LAYOUT_TAG}", str(bundle))
    rootfs = bundle / "rootfs"
    for directory in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "root", "etc"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    applets = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = rootfs / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    pip3 = rootfs / "usr" / "local" / "bin" / "pip3"
    pip3.write_text(PIP3_SCRIPT)
    pip3.chmod(0o755)
    (rootfs / "usr" / "local" / "bin" / "pip").symlink_to("pip3")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    _run("umoci", "repack", "--image", f"{layout}:{LAYOUT_TAG}", str(bundle))
    _run(
        "umoci",
        "config",
        "--image",
        f"{layout}:{LAYOUT_TAG}",
        "--config.env",
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "--config.cmd",
        "sh",
    )
    shutil.rmtree(bundle)
    return layout


def push_base(layout: Path, registry: RegistryServer, repository: str, tag: str) -> str:
    """Push the layout's image to ``registry`` as ``repository:tag``; returns the reference."""
    reference = registry.image(repository, tag)
    argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if registry.needs_credentials:
        argv.append(f"--dest-creds={registry.username}:{registry.password}")
    _run(*argv, f"oci:{layout}:{LAYOUT_TAG}", f"docker://{reference}")
    return reference
