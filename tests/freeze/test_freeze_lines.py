"""The requirements file's lines: only what we mean is active, every comment stays a comment."""

from __future__ import annotations

import pytest

from polymagic.render.freeze_lines import (
    comment,
    pinned_line,
    requirements_name_problem,
    safe_text,
    vcs_line,
)

COMMIT = "d" * 40


@pytest.mark.parametrize(
    "text",
    ["a\nb", "a\rb", "a\x0bb", "a\x0cb", "a\x1cb", "a\x85b", "a\u2028b", "a\u2029b", "a\\\nb"],
    ids=["lf", "cr", "vt", "ff", "fs", "nel", "line-sep", "para-sep", "backslash-lf"],
)
def test_a_comment_is_one_line_whatever_it_says(text: str) -> None:
    line = comment(f"x {text} --extra-index-url https://evil.example")
    assert line.startswith("# ")
    assert line.splitlines() == [line]
    assert line.isascii()
    assert line.isprintable()


def test_safe_text_escapes_and_cuts() -> None:
    assert safe_text("é\n\\") == "\\xe9\\x0a\\\\"
    assert safe_text("x" * 10, limit=4) == "xxxx..."


@pytest.mark.parametrize(
    ("name", "version", "line"),
    [("attrs", "23.2.0", "attrs==23.2.0"), ("Foo_Bar", "1.0.0-beta1", "Foo_Bar==1.0.0b1"),
     ("torch", "2.1.0+cpu", "torch==2.1.0+cpu"), ("a", "1", "a==1")],
    ids=["plain", "normalised", "local-label", "short"],
)  # fmt: skip
def test_pinned_lines(name: str, version: str, line: str) -> None:
    assert pinned_line(name, version) == (line, None)


@pytest.mark.parametrize(
    ("name", "version", "why"),
    [("-r", "1", "is not a valid distribution name"), ("a b", "1", "is not a valid"),
     ("x", "1.0\n-r /etc/passwd", "is not a PEP 440 version"), ("x", "1.0 ; os_name", "PEP 440"),
     ("x", "latest", "PEP 440"), ("--trusted-host", "1", "distribution name")],
    ids=["option-name", "space", "newline-version", "marker-version", "word-version", "option"],
)  # fmt: skip
def test_invalid_names_and_versions_are_refused(name: str, version: str, why: str) -> None:
    line, problem = pinned_line(name, version)
    assert line is None
    assert problem is not None
    assert why in problem


def test_vcs_lines() -> None:
    info = {"url": "https://example.com/o/r.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
    assert vcs_line("r", info) == (f"r @ git+https://example.com/o/r.git@{COMMIT}", None)
    sub = {**info, "subdirectory": "python/pkg"}
    assert (
        vcs_line("r", sub)[0]
        == f"r @ git+https://example.com/o/r.git@{COMMIT}#subdirectory=python/pkg"
    )


@pytest.mark.parametrize(
    ("info", "why"),
    [({"url": "https://example.com/r.git --trusted-host x", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}, "characters"),
     ({"url": "https://example.com/r.git", "vcs_info": {"vcs": "cvs", "commit_id": COMMIT}}, "version control"),
     ({"url": "https://example.com/r.git", "vcs_info": {"vcs": "git", "commit_id": "HEAD"}}, "commit"),
     ({"url": "ftp://example.com/r.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}, "http(s)"),
     ({"url": "https://tok@example.com/r.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}, "credentials"),
     ({"url": 3}, "no URL")],
    ids=["space", "cvs", "head", "ftp", "token", "not-a-string"],
)  # fmt: skip
def test_vcs_lines_refused(info: dict[str, object], why: str) -> None:
    line, problem = vcs_line("r", info)
    assert line is None
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    ("path", "ok"),
    [("requirements.txt", True), ("deps/prod.txt", True), ("r-1_2.txt", True), ("", False),
     ("/abs.txt", False), ("../up.txt", False), ("a/../b.txt", False), ("-r", False),
     (".hidden", False), ("a b.txt", False), ("a;b", False), ("a\nb", False), ("a\\b", False)],
    ids=["plain", "folder", "dashes", "empty", "absolute", "up", "inner-up", "option", "hidden",
         "space", "semicolon", "newline", "backslash"],
)  # fmt: skip
def test_requirements_names(path: str, ok: bool) -> None:
    assert (requirements_name_problem(path) is None) is ok
