"""The lines ``freeze`` writes into a requirements file, made safe: nothing a distribution's
metadata says can become an active pip line.

- an active line is either ``name==version`` (the name checked against PEP 508's grammar, the
  version parsed by PEP 440 and written normalised) or ``name @ vcs+https://host/path@commit``
  (an ``http(s)`` URL without credentials, of plain URL characters, a commit of hex digits), and
  every line written is parsed back with ``packaging`` before it is used;
- a comment line holds printable ASCII only: anything else (a newline, a carriage return, any of
  the characters Python's ``str.splitlines`` splits on, non-ASCII text) is written as an escape,
  so a comment never ends early and a ``--extra-index-url`` inside it stays a comment;
- the ``--requirements`` name is a plain relative file name (letters, digits, ``._-`` and ``/``
  between parts; no ``..``; not starting with ``-``).

Pure: text in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

__all__ = [
    "Checkout",
    "checkout_line",
    "comment",
    "pinned_line",
    "requirements_name_problem",
    "safe_text",
    "vcs_line",
]

_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9._~:/?=&%+!$'()*,;\[\]-]+$")
_URL_PARTS = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)$", re.S
)
_GIT_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_OTHER_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUBDIRECTORY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
_FILE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_VCS = frozenset({"git", "hg", "svn", "bzr"})
_MAX_LINE = 2048


def safe_text(text: str, limit: int = 500) -> str:
    """``text`` as printable ASCII: any other character becomes a ``\\x``/``\\u`` escape, and a
    long text is cut (with ``…`` spelt ``...``)."""
    out = []
    for character in text[:limit]:
        code = ord(character)
        if 0x20 <= code < 0x7F and character != "\\":
            out.append(character)
        elif character == "\\":
            out.append("\\\\")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + ("..." if len(text) > limit else "")


def comment(text: str) -> str:
    """One requirements-file comment line saying ``text``; it cannot end before the line does."""
    return "# " + safe_text(text, limit=_MAX_LINE)


def _checked(line: str) -> str | None:
    """``line`` when pip reads it as exactly one requirement, else None."""
    if len(line) > _MAX_LINE or not line.isascii() or not line.isprintable():
        return None
    if line.rstrip().endswith("\\") or " #" in line or line.startswith(("-", "#")):
        return None
    try:
        Requirement(line)
    except InvalidRequirement:
        return None
    return line


def pinned_line(name: str, version: str) -> tuple[str | None, str | None]:
    """``name==version``, or why it cannot be written (an invalid name or version)."""
    if not _NAME.match(name):
        return None, f"its name '{name[:200]}' is not a valid distribution name"
    try:
        normal = str(Version(version))
    except InvalidVersion:
        return None, f"its version '{version[:200]}' is not a PEP 440 version"
    line = _checked(f"{name}=={normal}")
    if line is None:
        return None, "its name and version do not make a valid requirement"
    return line, None


def _remote_url(url: str) -> str | None:
    """Why ``url`` is not a plain remote ``http(s)`` URL without credentials, or None."""
    parts = _URL_PARTS.match(url)
    if parts is None:
        return "it is not an http(s) URL the build can reach"
    if "@" in parts.group("authority"):
        return "its URL holds credentials"
    if not _URL_CHARACTERS.match(url):
        return "its URL holds characters a requirements file cannot carry safely"
    host = parts.group("authority").split(":", 1)[0]
    if parts.group("scheme").lower() not in ("https", "http") or not host:
        return "it is not an http(s) URL the build can reach"
    if "@" in parts.group("rest"):
        return "its URL holds an '@' the revision would be confused with"
    return None


def vcs_line(name: str, info: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``name @ vcs+URL@COMMIT[#subdirectory=…]`` for a PEP 610 VCS or archive install, or why
    it cannot stay an active line."""
    if not _NAME.match(name):
        return None, f"its name '{name[:200]}' is not a valid distribution name"
    url = info.get("url")
    if not isinstance(url, str):
        return None, "its direct_url.json has no URL"
    problem = _remote_url(url)
    if problem is not None:
        return None, problem
    fragment = ""
    subdirectory = info.get("subdirectory")
    if subdirectory is not None:
        if not isinstance(subdirectory, str) or not _SUBDIRECTORY.match(subdirectory):
            return None, "its subdirectory is not a plain relative path"
        if ".." in subdirectory.split("/"):
            return None, "its subdirectory leaves the repository"
        fragment = f"#subdirectory={subdirectory}"
    vcs = info.get("vcs_info")
    if isinstance(vcs, Mapping):
        kind = vcs.get("vcs")
        if kind not in _VCS:
            return None, "its version control system is not one pip knows"
        commit = vcs.get("commit_id")
        pattern = _GIT_COMMIT if kind == "git" else _OTHER_REVISION
        if not isinstance(commit, str) or not pattern.match(commit):
            return None, "its commit is missing or not a commit id"
        line = _checked(f"{name} @ {kind}+{url}@{commit}{fragment}")
    else:
        line = _checked(f"{name} @ {url}{fragment}")
    if line is None:
        return None, "its URL does not make a valid requirement"
    return line, None


@dataclass(frozen=True)
class Checkout:
    """The git state of an editable install's project folder (read by
    ``polymagic.app.source_info.read_checkout``)."""

    remote: str | None
    """The remote's URL without credentials (``polymagic.render.annotations.clean_remote``)."""
    commit: str
    subdirectory: str = ""
    """The project folder inside the repository (``a/b``; empty at its top)."""
    changed: bool = False
    """Files in the folder differ from the commit (untracked ones git does not ignore too)."""
    pushed: bool = True
    """A remote-tracking branch holds the commit (as far as the last fetch knows)."""
    credentials: bool = False
    """The remote's URL held a user or token (removed from ``remote``)."""


def checkout_line(name: str, checkout: Checkout) -> tuple[str | None, str | None]:
    """``name @ git+URL@COMMIT[#subdirectory=…]`` for an editable install from a clean git
    checkout whose commit a remote has, or why not (what to do follows from it)."""
    if checkout.remote is None:
        return None, "the checkout has no remote"
    if checkout.credentials:
        return None, "its remote's URL holds credentials"
    if checkout.changed:
        return None, "its folder has changes not committed (or files not added)"
    if not checkout.pushed:
        return None, f"its commit {checkout.commit[:12]} is on no remote branch"
    info: dict[str, Any] = {
        "url": checkout.remote,
        "vcs_info": {"vcs": "git", "commit_id": checkout.commit},
    }
    if checkout.subdirectory:
        info["subdirectory"] = checkout.subdirectory
    return vcs_line(name, info)


def requirements_name_problem(path: str) -> str | None:
    """Why ``path`` is not a plain relative file name for the requirements file, or None."""
    parts = path.split("/")
    if not path or path.startswith("/") or len(path) > 255:
        return "give a relative file name inside the build context, such as requirements.txt"
    for part in parts:
        if part in (".", "..") or not _FILE_PART.match(part):
            return (
                "use letters, digits, '.', '_' and '-' only (and '/' between folders), not"
                " starting with '-' or '.', with no '..'"
            )
    return None
