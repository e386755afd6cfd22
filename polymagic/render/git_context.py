"""Where a build's context comes from when it is a git repository: Kaniko's ``git://`` context
from a ``git`` init and its connection. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from polymagic.errors import SpecError
from polymagic.render.compiler import CompiledBuild
from polymagic.spec.connections import Connection
from polymagic.spec.models import GitInit, check_git_url

__all__ = ["GitContext", "git_context"]


@dataclass(frozen=True)
class GitContext:
    """A Kaniko ``git://`` build context from a ``git`` init (and its connection)."""

    url: str
    connection: Connection | None
    sub_path: str | None = None


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def git_context(build: CompiledBuild) -> GitContext | None:
    """The ``git://host/repo.git#ref#commit`` context named by the run's first ``git`` init.

    The repository comes from ``git.url`` or the init's ``git`` connection (``schema.url``);
    ``revision`` may be a branch (``main`` → ``refs/heads/main``), a full ``refs/...`` name (use
    ``refs/tags/v1`` for a tag) or a 40-hex commit.
    """
    inits = build.run.init if isinstance(build.run.init, list) else []
    for init in inits:
        if not isinstance(init.git, GitInit):
            continue
        connection = build.connections.get(init.connection) if init.connection else None
        schema = (connection.schema_ or {}) if connection is not None else {}
        url = init.git.url or schema.get("url")
        if not url:
            raise SpecError(
                "the git init has no repository: set `git.url` or a git connection with `schema.url`",
                path="runPatch.init",
            )
        try:  # the models refuse these already; this is the URL that reaches the pod
            check_git_url(str(url))
        except ValueError as error:
            field = "git.url" if init.git.url else f"connection `{init.connection}` schema.url"
            raise SpecError(str(error), path=f"runPatch.init ({field})") from None
        repository = re.sub(r"^(https?|git|ssh)://", "", str(url)).removesuffix("/")
        if not repository.endswith(".git"):
            repository += ".git"
        revision = init.git.revision or schema.get("revision")
        fragment = ""
        if revision and _COMMIT.match(str(revision)):
            fragment = f"##{revision}"
        elif revision:
            reference = (
                str(revision) if str(revision).startswith("refs/") else f"refs/heads/{revision}"
            )
            fragment = f"#{reference}"
        sub_path = init.path if init.path and not init.path.startswith("/") else None
        return GitContext(f"git://{repository}{fragment}", connection, sub_path)
    return None
