"""Reading the git state of the folder a build came from (a notebook's, an operation file's):
its remote, its commit, whether the tree has changes, the commit's time. For the image's
annotations (``polymagic.render.annotations``), and for ``freeze``, the same of an editable
install's project folder (``read_checkout``).

``git`` runs as a child process with a deadline and its output bounded; no git, no
repository, a broken one, a hung ``git`` (a slow network filesystem, a hook) all end as "not
known", never as an error: an image without a ``source`` annotation is better than no image.
The remote is published without credentials (``https://user:token@...`` loses its user and
token) and never printed with them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from polymagic.render.annotations import SourceInfo, clean_remote

if TYPE_CHECKING:
    import subprocess

    from polymagic.render.freeze_lines import Checkout

__all__ = ["GIT_TIMEOUT", "read_checkout", "read_source_info"]

GIT_TIMEOUT = 3.0
"""Seconds each ``git`` question may take."""

_MAX_OUTPUT = 64 * 1024
_HASH = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?", re.ASCII)
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
"""A project folder's build definition: one of them tracked makes it a project in git."""
_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")


def _git(folder: Path, *args: str, timeout: float) -> str | None:
    """``git args`` in ``folder``: its output (at most 64 KiB read), or None when it failed."""
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    environment = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
        "GIT_OPTIONAL_LOCKS": "0",  # `status` must not write the index
        "LC_ALL": "C",
    }
    try:
        with subprocess.Popen(
            # No fsmonitor: a repository's config must not make a read start its command.
            [git, "-c", "core.fsmonitor=false", "-C", str(folder), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment,
        ) as child:
            try:
                assert child.stdout is not None
                output = _bounded_read(child, timeout)
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait()
    except OSError:
        return None
    if output is None or child.returncode != 0:
        return None
    return output.decode("utf-8", "replace")


def _bounded_read(child: subprocess.Popen[bytes], timeout: float) -> bytes | None:
    """At most ``_MAX_OUTPUT`` bytes of the child's output within ``timeout``; None when late."""
    import selectors
    import subprocess
    import time

    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(child.stdout.fileno(), 16 * 1024)
            if not chunk:
                break
            if size < _MAX_OUTPUT:
                chunks.append(chunk[: _MAX_OUTPUT - size])
            size += len(chunk)
    remaining = deadline - time.monotonic()
    try:
        child.wait(max(remaining, 0.001))
    except subprocess.TimeoutExpired:
        return None
    return b"".join(chunks)


def read_source_info(folder: Path, *, timeout: float = GIT_TIMEOUT) -> SourceInfo | None:
    """The git state of ``folder``; None when it is in no git work tree (or git cannot say).

    Outside a work tree (no ``.git`` in the folder or above it) no ``git`` is started."""
    if not _in_work_tree(folder):
        return None
    head = _git(folder, "log", "-1", "--format=%H %ct", "HEAD", timeout=timeout)
    if head is None:
        return None
    parts = head.split()
    if len(parts) != 2 or not _HASH.fullmatch(parts[0]) or not parts[1].isdigit():
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no", timeout=timeout)
    remote = _remote(folder, timeout)
    return SourceInfo(
        remote=remote,
        revision=parts[0],
        dirty=bool(status.strip()) if status is not None else False,
        commit_time=int(parts[1]),
    )


def _in_work_tree(folder: Path) -> bool:
    """Whether ``folder`` or a folder above it holds ``.git`` (a folder, or a worktree's file)."""
    try:
        here = folder.resolve()
    except (OSError, RuntimeError):
        return False
    for candidate in (here, *here.parents):
        try:
            if (candidate / ".git").exists():
                return True
        except OSError:
            return False
    return False


def read_checkout(folder: Path, *, timeout: float = GIT_TIMEOUT) -> Checkout | None:
    """The git state of an editable install's project ``folder`` (for ``freeze``): its commit,
    its place in the repository, whether its files differ from the commit (untracked ones not
    ignored included), whether a remote-tracking branch holds the commit; None when it is in no
    work tree, its build definition is not tracked there (a folder git ignores, inside someone
    else's repository), or git cannot say. Ten ``git`` questions at most, each within
    ``timeout``."""
    # Loaded here: the freeze's line rules bring packaging, which a build's annotations skip.
    from polymagic.render.freeze_lines import Checkout

    if not _in_work_tree(folder):
        return None
    head = _git(folder, "rev-parse", "HEAD", timeout=timeout)
    if head is None or not _HASH.fullmatch(head.strip()):
        return None
    prefix = _git(folder, "rev-parse", "--show-prefix", timeout=timeout)
    if prefix is None:
        return None
    tracked = _git(folder, "ls-files", "--", *_BUILD_FILES, timeout=timeout)
    if not tracked or not tracked.strip():
        return None
    status = _git(
        folder, "status", "--porcelain", "--untracked-files=normal", "--", ".", timeout=timeout
    )
    holders = _git(folder, "branch", "-r", "--contains", "HEAD", timeout=timeout)
    raw = _remote_url(folder, timeout)
    return Checkout(
        remote=clean_remote(raw) if raw else None,
        commit=head.strip(),
        subdirectory=prefix.strip().strip("/"),
        changed=status is None or bool(status.strip()),
        pushed=bool(holders and holders.strip()),
        credentials=bool(raw and _CREDENTIALS.match(raw)),
    )


def _remote(folder: Path, timeout: float) -> str | None:
    """The remote's URL (:func:`_remote_url`) without credentials."""
    url = _remote_url(folder, timeout)
    return clean_remote(url) if url else None


def _remote_url(folder: Path, timeout: float) -> str | None:
    """The URL of the remote the branch tracks, else ``origin``'s, else the only one, as git
    has it (credentials too: never to be shown)."""
    upstream = _git(
        folder, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}", timeout=timeout
    )
    names: list[str] = []
    if upstream and "/" in upstream:
        names.append(upstream.strip().split("/", 1)[0])
    listed = _git(folder, "remote", timeout=timeout)
    known = listed.split() if listed else []
    names += ["origin"] if "origin" in known else known[:1] if len(known) == 1 else []
    for name in dict.fromkeys(names):
        url = _git(folder, "remote", "get-url", "--", name, timeout=timeout)
        if url and url.strip():
            return url.strip()
    return None
