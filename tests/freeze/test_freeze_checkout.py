"""An editable install from a git checkout: ``freeze`` pins it as ``name @ git+URL@COMMIT`` when
its folder matches a commit a remote branch holds, and names it as needing attention otherwise
(no remote, changes, an unpushed commit, a remote with credentials or one the build cannot
reach by https, a folder git does not track). Read with real ``git`` repositories; the reading
is bounded in time even when ``git`` hangs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from polymagic.app.interpreter import read_environment
from polymagic.app.source_info import read_checkout
from polymagic.render.freeze import Distribution, Environment, freeze
from polymagic.render.freeze_lines import Checkout
from tests.hostile.bounded import run_bounded

COMMIT = "c" * 40
EDITABLE = {"url": "file:///home/me/tool/py", "dir_info": {"editable": True}}
REMOTE = "https://example.com/org/tool.git"


def _frozen(checkout: Checkout) -> tuple[list[str], list[str], str]:
    tool = Distribution("tool", "1.0", direct_url=EDITABLE, checkout=checkout)
    result = freeze(Environment((3, 11, 2), (tool,)))
    active = [line for line in result.requirements.splitlines() if line and line[0] != "#"]
    return active, [item.why for item in result.attention], result.requirements


def test_a_clean_pushed_checkout_is_pinned_at_its_commit() -> None:
    active, attention, _ = _frozen(Checkout(REMOTE, COMMIT, subdirectory="py"))
    assert active == [f"tool @ git+{REMOTE}@{COMMIT}#subdirectory=py"]
    assert attention == []


@pytest.mark.parametrize(
    ("checkout", "why"),
    [
        (Checkout(None, COMMIT), "the checkout has no remote"),
        (Checkout(REMOTE, COMMIT, changed=True), "its folder has changes not committed"),
        (Checkout(REMOTE, COMMIT, pushed=False), f"its commit {COMMIT[:12]} is on no remote branch"),
        (Checkout(REMOTE, COMMIT, credentials=True), "its remote's URL holds credentials"),
        (Checkout("github.com:org/tool.git", COMMIT), "not an http(s) URL the build can reach"),
    ],
    ids=["no-remote", "changed", "unpushed", "credentials", "ssh-remote"],
)  # fmt: skip
def test_a_checkout_that_cannot_be_pinned_is_named_with_why(checkout: Checkout, why: str) -> None:
    active, attention, written = _frozen(checkout)
    assert active == []
    [text] = attention
    assert text.startswith("an editable install (/home/me/tool/py) from a git checkout: ")
    assert why in text
    assert f"# tool==1.0: {text}" in written


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository holding a project in ``tool/``, one commit, no remote yet."""
    repo = tmp_path / "repo"
    (repo / "tool" / "tool").mkdir(parents=True)
    (repo / "tool" / "pyproject.toml").write_text('[project]\nname = "tool"\nversion = "1.0"\n')
    (repo / "tool" / "tool" / "__init__.py").write_text("")
    (repo / "README").write_text("elsewhere\n")
    _git(repo.parent, "init", "-q", "-b", "main", str(repo))
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return repo


def test_read_checkout_tells_remote_commit_place_changes_and_push(repository: Path) -> None:
    project = repository / "tool"
    head = _git(repository, "rev-parse", "HEAD")
    assert read_checkout(project) == Checkout(None, head, "tool", pushed=False)
    _git(repository, "remote", "add", "origin", "https://bob:s3cret@example.com/org/repo.git")
    _git(repository, "update-ref", "refs/remotes/origin/main", "HEAD")
    seen = read_checkout(project)
    assert seen == Checkout(
        "https://example.com/org/repo.git", head, "tool", pushed=True, credentials=True
    )
    assert "s3cret" not in repr(seen)
    # A change outside the project folder is not the project's; inside it is, untracked too.
    (repository / "README").write_text("changed\n")
    assert read_checkout(project) == seen
    (project / "tool" / "new.py").write_text("")
    assert read_checkout(project) == Checkout(
        "https://example.com/org/repo.git", head, "tool", changed=True, credentials=True
    )


def test_a_folder_git_does_not_track_is_no_checkout(repository: Path, tmp_path: Path) -> None:
    ignored = repository / "vendored"
    ignored.mkdir()
    (ignored / "pyproject.toml").write_text("[project]\n")
    (repository / ".gitignore").write_text("vendored/\n")
    assert read_checkout(ignored) is None
    outside = tmp_path / "outside"
    outside.mkdir()
    assert read_checkout(outside) is None


def _editable_site(site: Path, name: str, folder: Path) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    url = {"url": folder.as_uri(), "dir_info": {"editable": True}}
    (info / "direct_url.json").write_text(json.dumps(url))


def test_freeze_pins_an_editable_install_from_a_pushed_checkout(
    repository: Path, tmp_path: Path
) -> None:
    _git(repository, "remote", "add", "origin", REMOTE)
    _git(repository, "update-ref", "refs/remotes/origin/main", "HEAD")
    site = tmp_path / "site"
    _editable_site(site, "tool", repository / "tool")
    env = read_environment(path=[str(site)], user_namespace={}, modules={})
    head = _git(repository, "rev-parse", "HEAD")
    assert f"tool @ git+{REMOTE}@{head}#subdirectory=tool" in freeze(env).requirements.splitlines()


CHILD = """
import json, sys, time
import polymagic.app.interpreter as interpreter
from polymagic.render.freeze import freeze
interpreter.CHECKOUT_SECONDS = 2.0
started = time.monotonic()
env = interpreter.read_environment(path=[sys.argv[1]], user_namespace={}, modules={})
result = freeze(env)
print(json.dumps({"seconds": time.monotonic() - started, "attention": len(result.attention),
                  "active": [l for l in result.requirements.splitlines() if l and l[0] != "#"]}))
"""


def test_a_hanging_git_does_not_hang_freeze(tmp_path: Path) -> None:
    """Forty editable installs in folders whose ``.git/HEAD`` is a FIFO (``git`` blocks opening
    it): reading them all stays within the budget, and each is named, none pinned."""
    site = tmp_path / "site"
    for number in range(40):
        folder = tmp_path / f"p{number}"
        for part in ("objects", "refs"):
            (folder / ".git" / part).mkdir(parents=True)
        os.mkfifo(folder / ".git" / "HEAD")
        _editable_site(site, f"p{number}", folder)
    started = time.monotonic()
    result = run_bounded(CHILD.replace("sys.argv[1]", repr(str(site))), seconds=60)
    assert result.returncode == 0, result.explain()
    shown = json.loads(result.stdout)
    assert shown["active"] == []
    assert shown["attention"] == 40
    # The budget (2 s here) plus the interpreter's start; without it, 32 folders x 10 questions
    # x 3 s each.
    assert shown["seconds"] < 6, shown
    assert time.monotonic() - started < 30


def test_reading_a_checkout_never_starts_its_fsmonitor(repository: Path, tmp_path: Path) -> None:
    """A repository's ``core.fsmonitor`` names a command ``git status`` would start: reading
    the checkout must not start it."""
    marker = tmp_path / "started"
    hook = tmp_path / "monitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    _git(repository, "config", "core.fsmonitor", str(hook))
    subprocess.run(["git", "-C", str(repository), "status"], capture_output=True, check=False)
    assert marker.exists(), "git itself starts the monitor: the test's premise"
    marker.unlink()
    assert read_checkout(repository / "tool") is not None
    assert not marker.exists()
