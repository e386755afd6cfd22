"""``freeze`` on hand-made environments: what is pinned, left out, or needs attention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.errors import ParamError
from polymagic.render.compiler import compile_operation
from polymagic.render.freeze import (
    Distribution,
    Environment,
    FreezeOptions,
    LocalModule,
    freeze,
    is_tooling,
)

PY = (3, 11, 7)


def dist(name: str, version: str = "1.0", *requires: str, **extra: Any) -> Distribution:
    return Distribution(name, version, tuple(requires), **extra)


TOOLING = [
    dist("ipykernel", "6.29.0", "ipython>=7", "tornado>=6", "packaging"),
    dist("ipython", "8.20.0", "pygments", "jedi"),
    dist("jupyter_client", "8.6.0", "tornado", "python-dateutil"),
    dist("polymagic", "0.1.0", "pyyaml", "requests"),
    dist("pip", "24.0"),
    dist("setuptools", "69.0"),
    dist("tornado", "6.4"),
    dist("jedi", "0.19"),
    dist("pygments", "2.17"),
    dist("pyyaml", "6.0.1"),
]
USER = [
    dist(
        "pandas", "2.2.0", "numpy>=1.23", "python-dateutil>=2.8", "tzdata; python_version < '3.0'"
    ),
    dist("numpy", "1.26.4"),
    dist("python-dateutil", "2.9.0", "six>=1.5"),
    dist("six", "1.16.0"),
    dist("tzdata", "2024.1"),
    dist("packaging", "24.0"),
]


def env(
    *extra: Distribution,
    used: set[str] | None = None,
    imported: set[str] | None = None,
    referenced: set[str] | None = None,
) -> Environment:
    return Environment(
        PY,
        (*TOOLING, *USER, *extra),
        imported=frozenset(imported or ()),
        used=frozenset(used or ()),
        referenced=frozenset(referenced or ()),
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_default_pins_everything_but_the_tooling_and_what_only_it_needs() -> None:
    result = freeze(env())
    assert lines(result.requirements) == [
        "numpy==1.26.4",
        "pandas==2.2.0",
        "python-dateutil==2.9.0",
        "six==1.16.0",
        "tzdata==2024.1",
    ]
    # packaging is only there for ipykernel; requests is required but not installed.
    assert "packaging" in result.left_out
    assert {"ipykernel", "ipython", "tornado", "jedi", "pip", "polymagic", "pyyaml"} <= set(
        result.left_out
    )
    assert result.summary() == "5 packages pinned, 11 left out as tooling, 0 needing attention"


def test_a_dependency_shared_with_the_tooling_is_kept() -> None:
    result = freeze(env())
    # jupyter_client (tooling) needs python-dateutil too; pandas needs it, so it stays.
    assert "python-dateutil==2.9.0" in lines(result.requirements)


def test_what_the_user_asked_for_by_name_is_kept_even_if_tooling_needs_it() -> None:
    requested = Distribution("pyyaml", "6.0.1", requested=True)
    tooling = [d for d in TOOLING if d.name != "pyyaml"]
    result = freeze(Environment(PY, (*tooling, *USER, requested)))
    assert "pyyaml==6.0.1" in lines(result.requirements)


def test_what_the_kernel_history_installed_is_kept_without_requested() -> None:
    """``%pip install pyyaml`` when polymagic had installed it already: no REQUESTED, but the
    history names it."""
    environment = Environment(PY, (*TOOLING, *USER), asked=frozenset({"pyyaml", "ipykernel"}))
    result = freeze(environment)
    assert "pyyaml==6.0.1" in lines(result.requirements)
    assert "ipykernel" in result.left_out  # asking for the tooling itself still leaves it out
    assert "installed by you" not in result.summary()


def test_under_imported_what_you_installed_and_do_not_import_is_listed() -> None:
    """Asked for in the history (pyyaml), by REQUESTED (extra) or a distribution outside the
    tooling's closure that nothing requires (pandas): listed, in the summary and the file;
    what any distribution requires (numpy, six; tzdata, if only for Python < 3.0) is not."""
    extra = Distribution("extra", "3.0", requested=True)
    environment = Environment(
        PY, (*TOOLING, *USER, extra), asked=frozenset({"pyyaml"}), used=frozenset({"six"})
    )
    result = freeze(environment, FreezeOptions(imported_only=True))
    assert lines(result.requirements) == ["six==1.16.0"]
    assert result.not_imported == ("extra==3.0", "pandas==2.2.0", "pyyaml==6.0.1")
    assert "3 installed by you but not imported (left out), 0 needing attention" in (
        result.summary()
    )
    assert "pyyaml" not in result.left_out  # the user's, not the tooling's
    assert "# pyyaml==6.0.1\n" in result.requirements
    assert "3 installed by you but not imported" in result.operation


def test_include_tooling_keeps_everything() -> None:
    result = freeze(env(), FreezeOptions(include_tooling=True))
    assert len(lines(result.requirements)) == len(TOOLING) + len(USER)
    assert result.left_out == ()


def test_exclude_leaves_out_a_package_and_what_only_it_needs() -> None:
    result = freeze(env(), FreezeOptions(exclude=("pandas", "nothing-like-this")))
    # numpy, python-dateutil and six were there for pandas (and dateutil for the tooling too);
    # tzdata is required by nothing on the target (its marker is for Python < 3.0), so it stays.
    assert lines(result.requirements) == ["tzdata==2024.1"]
    assert "pandas" in result.left_out
    assert "--exclude nothing-like-this: no distribution of that name is installed" in (
        result.warnings
    )


def test_imported_only_follows_requirements_and_evaluates_markers() -> None:
    environment = env(used={"pandas"}, imported={"pandas", "tornado", "pyyaml"})
    result = freeze(environment, FreezeOptions(imported_only=True))
    # tzdata is required only for Python < 3.0: left out; tornado/yaml were the tooling's imports.
    assert lines(result.requirements) == [
        "numpy==1.26.4",
        "pandas==2.2.0",
        "python-dateutil==2.9.0",
        "six==1.16.0",
    ]


def test_a_module_imported_by_the_user_counts_even_when_the_tooling_needs_it() -> None:
    """``import yaml`` in the notebook keeps PyYAML, though polymagic needs it too; a module that
    only the tooling imported does not."""
    used = freeze(env(used={"pyyaml"}, imported={"pyyaml"}), FreezeOptions(imported_only=True))
    assert lines(used.requirements) == ["pyyaml==6.0.1"]
    imported = freeze(env(imported={"pyyaml"}), FreezeOptions(imported_only=True))
    assert lines(imported.requirements) == []


def test_extras_requested_by_a_requirement_are_followed() -> None:
    app = dist("app", "1.0", "lib[fast]")
    lib = dist("lib", "2.0", "speedups; extra == 'fast'", "docs-tool; extra == 'docs'")
    extras = (app, lib, dist("speedups", "3.0"), dist("docs-tool", "4.0"))
    result = freeze(
        Environment(PY, extras, used=frozenset({"app"})), FreezeOptions(imported_only=True)
    )
    assert lines(result.requirements) == ["app==1.0", "lib==2.0", "speedups==3.0"]


VCS = {"url": "https://example.com/org/tool.git", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}


@pytest.mark.parametrize(
    ("direct_url", "line"),
    [
        (VCS, f"tool @ git+https://example.com/org/tool.git@{'a' * 40}"),
        ({**VCS, "subdirectory": "py"}, f"tool @ git+https://example.com/org/tool.git@{'a' * 40}#subdirectory=py"),
        ({"url": "https://files.example.com/tool-1.0.whl", "archive_info": {}}, "tool @ https://files.example.com/tool-1.0.whl"),
    ],
    ids=["vcs", "vcs-subdirectory", "archive-url"],
)  # fmt: skip
def test_url_installs_become_direct_references(direct_url: dict[str, Any], line: str) -> None:
    result = freeze(env(dist("tool", "1.0", direct_url=direct_url)))
    assert line in lines(result.requirements)
    assert result.attention == ()


@pytest.mark.parametrize(
    ("direct_url", "why"),
    [
        ({"url": "file:///home/me/tool", "dir_info": {"editable": True}}, "an editable install (/home/me/tool)"),
        ({"url": "file:///home/me/tool", "dir_info": {}}, "installed from a folder (/home/me/tool)"),
        ({"url": "file:///tmp/tool-1.0.whl", "archive_info": {}}, "installed from a local file (/tmp/tool-1.0.whl)"),
        ({"url": "https://bob:s3cret@example.com/org/tool.git", "vcs_info": {"vcs": "git", "commit_id": "b" * 40}},
         "installed from https://***@example.com/org/tool.git: its URL holds credentials"),
    ],
    ids=["editable", "local-folder", "local-file", "credentials"],
)  # fmt: skip
def test_what_an_index_cannot_give_is_listed_never_dropped(
    direct_url: dict[str, Any], why: str
) -> None:
    result = freeze(env(dist("tool", "1.0", direct_url=direct_url)))
    assert not any(line.startswith("tool") for line in lines(result.requirements))
    assert [item.name for item in result.attention] == ["tool"]
    assert why in result.attention[0].why
    assert f"# tool==1.0: {why}" in result.requirements
    assert any(why in warning for warning in result.warnings)
    assert "s3cret" not in result.requirements + result.operation + "".join(result.warnings)
    assert result.summary().endswith("1 needing attention")


def test_broken_metadata_is_listed() -> None:
    broken = Distribution("", "", location="/venv/lib/site-packages/x.dist-info", problem="no name")
    result = freeze(env(broken), FreezeOptions(imported_only=True))
    assert "(unnamed): its metadata cannot be used (no name)" in result.requirements


def test_the_operation_builds_from_the_requirements() -> None:
    result = freeze(
        env(), FreezeOptions(destination="registry.example.com/org/frozen", connection="reg")
    )
    document = yaml.safe_load(result.operation)
    assert document["params"]["destination"] == {
        "connection": "reg",
        "value": "registry.example.com/org/frozen",
    }
    build = compile_operation(result.operation)
    assert build.dockerfiles[0].text.splitlines()[1:] == [
        "FROM python:3.11-slim",
        "",
        "ENV LC_ALL C.UTF-8",
        "ENV LANG C.UTF-8",
        "ENV LANGUAGE C.UTF-8",
        "",
        "ENV SHELL /bin/bash",
        "WORKDIR /code",
        "",
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,source=requirements.txt,"
        "target=/tmp/requirements.txt pip install -r /tmp/requirements.txt",
        "COPY requirements.txt /code",
    ]


def test_compiled_pins_get_a_layer_of_their_own_that_a_pure_addition_keeps() -> None:
    """numpy and pandas install from platform-specific wheels: they are named on a RUN line
    before the one reading the requirements file, so adding a pure-Python package changes only
    the file (and Kaniko's cache key of the second step)."""
    compiled = {"numpy": "1.26.4", "pandas": "2.2.0"}
    users = [dist(d.name, d.version, *d.requires, compiled=d.name in compiled) for d in USER]
    before = freeze(Environment(PY, (*TOOLING, *users)))
    after = freeze(Environment(PY, (*TOOLING, *users, dist("toolz", "0.12.1"))))
    run = yaml.safe_load(before.operation)["runPatch"]["init"][0]["dockerfile"]["run"]
    assert run[0] == (
        "--mount=type=cache,target=/root/.cache/pip pip install numpy==1.26.4 pandas==2.2.0"
    )
    assert run[1].endswith("pip install -r /tmp/requirements.txt")
    assert "toolz==0.12.1" in after.requirements
    assert (
        compile_operation(after.operation, params=["destination=r.example/a"]).dockerfiles[0].text
        == compile_operation(before.operation, params=["destination=r.example/a"])
        .dockerfiles[0]
        .text
    )


def test_base_and_requirements_path_options() -> None:
    result = freeze(env(), FreezeOptions(base="python:3.12", requirements="deps/prod.txt"))
    body = yaml.safe_load(result.operation)["runPatch"]["init"][0]["dockerfile"]
    assert body["image"] == "python:3.12"
    assert "copy" not in body
    assert body["postRunCopy"] == ["deps/prod.txt"]
    assert body["run"] == [
        "--mount=type=cache,target=/root/.cache/pip"
        " --mount=type=bind,source=deps/prod.txt,target=/tmp/prod.txt"
        " pip install -r /tmp/prod.txt"
    ]


def test_without_a_destination_the_cell_says_what_to_give() -> None:
    result = freeze(env())
    assert "# Give params.destination a value" in result.operation
    with pytest.raises(ParamError, match="param `destination` has no value") as caught:
        compile_operation(result.operation)
    assert caught.value.path == "params.destination"
    given = compile_operation(result.operation, params=["destination=reg.example.com/a/b"])
    assert given.destination == "reg.example.com/a/b"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("IPython", True), ("jupyter_client", True), ("jupyterlab", True), ("jupyter-server", True),
     ("ipywidgets", True), ("polymagic", True), ("pip", True), ("jupytext-like", False),
     ("numpy", False), ("ipyparallel", False)],
)  # fmt: skip
def test_tooling_names(name: str, expected: bool) -> None:
    assert is_tooling(name) is expected


def test_vendored_copies_are_never_pinned() -> None:
    vendored = dist("more-itertools", "10.3.0", vendored_by="setuptools")
    result = freeze(env(vendored, imported={"more-itertools"}), FreezeOptions(imported_only=True))
    assert lines(result.requirements) == []
    assert "more-itertools==10.3.0" not in lines(freeze(env(vendored)).requirements)


@pytest.mark.parametrize(
    ("base", "pinned"),
    [(None, False), ("python:3.11-slim", False), ("python:3.12-slim", True),
     ("docker.io/library/python:3.13.1-bookworm", True)],
    ids=["kernel-3.11", "3.11", "3.12", "3.13-full-name"],
)  # fmt: skip
def test_setuptools_is_kept_when_imported_and_the_base_brings_none(
    base: str | None, pinned: bool
) -> None:
    result = freeze(
        env(used={"setuptools"}, imported={"setuptools"}),
        FreezeOptions(imported_only=True, base=base),
    )
    assert ("setuptools==69.0" in lines(result.requirements)) is pinned


def test_a_base_with_another_python_warns_and_its_markers_count() -> None:
    app = dist("app", "1.0", "tomli; python_version < '3.11'")
    environment = Environment(PY, (app, dist("tomli", "2.0.1")), used=frozenset({"app"}))
    same = freeze(environment, FreezeOptions(imported_only=True))
    assert lines(same.requirements) == ["app==1.0"]
    assert same.warnings == ()
    older = freeze(environment, FreezeOptions(imported_only=True, base="python:3.10-slim"))
    assert lines(older.requirements) == ["app==1.0", "tomli==2.0.1"]
    assert any("has Python 3.10, the kernel 3.11" in warning for warning in older.warnings)
    unknown = freeze(environment, FreezeOptions(imported_only=True, base="ubuntu:24.04"))
    assert any("cannot tell its Python" in warning for warning in unknown.warnings)
    assert any("PEP 668" in warning for warning in unknown.warnings)


def test_the_default_pins_the_tooling_a_kept_distribution_requires() -> None:
    nbclient = dist("nbclient", "0.11.0", "jupyter-client>=6", "traitlets")
    extra = (nbclient, dist("traitlets", "5.14"))
    result = freeze(env(*extra))
    assert {"jupyter_client==8.6.0", "nbclient==0.11.0", "tornado==6.4"} <= set(
        lines(result.requirements)
    )
    assert "ipykernel==6.29.0" not in lines(result.requirements)


def test_the_users_imports_keep_tooling_that_values_alone_do_not() -> None:
    """``from IPython.display import display`` needs IPython in the image; a value defined in
    polymagic (a form object) is not a reason to pin the tooling."""
    imported = freeze(env(used={"ipython"}), FreezeOptions(imported_only=True))
    assert "ipython==8.20.0" in lines(imported.requirements)
    referenced = freeze(env(referenced={"polymagic"}), FreezeOptions(imported_only=True))
    assert lines(referenced.requirements) == []


def test_local_code_is_copied_or_named() -> None:
    local = (
        LocalModule("helper", "/nb/helper.py", "helper.py"),
        LocalModule("tools", "/nb/tools", "tools"),
        LocalModule("deep", "/nb/src/deep.py", "src/deep.py"),
        LocalModule("faraway", "/shared/faraway.py", None),
    )
    result = freeze(Environment(PY, tuple(USER), local=local))
    body = yaml.safe_load(result.operation)["runPatch"]["init"][0]["dockerfile"]
    assert body["postRunCopy"] == [
        "requirements.txt",
        "helper.py",
        ["tools", "/code/tools"],
        ["src/deep.py", "/code/src/deep.py"],
    ]
    assert result.summary() == (
        "6 packages pinned, 3 local modules copied, 0 left out as tooling, 1 needing attention"
    )
    assert any("faraway: local code at /shared/faraway.py, outside the build context" in w
               for w in result.warnings)  # fmt: skip


@pytest.mark.parametrize(
    ("direct_url", "why"),
    [
        ({"url": "file:///srv/repo", "vcs_info": {"vcs": "git", "commit_id": "c" * 40}},
         "installed from a local repository (/srv/repo)"),
        ({"url": "ssh://git@example.com/org/tool.git", "vcs_info": {"vcs": "git", "commit_id": "c" * 40}},
         "its URL holds credentials"),
        ({"url": "https://example.com/org/tool.git", "vcs_info": {"vcs": "git", "requested_revision": "main"}},
         "its commit is missing or not a commit id"),
        ({"url": "https://example.com/org/tool.git", "vcs_info": {"vcs": "git", "commit_id": "c" * 40},
          "subdirectory": "../up"}, "its subdirectory"),
    ],
    ids=["git-file", "git-ssh", "no-commit", "subdirectory-up"],
)  # fmt: skip
def test_vcs_installs_the_build_cannot_clone_are_comments(
    direct_url: dict[str, Any], why: str
) -> None:
    result = freeze(env(dist("tool", "1.0", direct_url=direct_url)))
    assert not any(line.startswith("tool") for line in lines(result.requirements))
    assert why in result.attention[0].why


def test_the_view_lists_what_you_installed_and_imported_only_left_out() -> None:
    from polymagic.notebook.freeze_view import FreezeView

    extra = Distribution("a<b>", "1.0", requested=True)  # a name only hostile metadata gives
    result = freeze(Environment(PY, (*TOOLING, *USER, extra)), FreezeOptions(imported_only=True))
    bundle = FreezeView(result, "requirements.txt")._repr_mimebundle_()
    assert (
        "installed by you but not imported, left out (freeze without --imported keeps them):"
        in (bundle["text/plain"])
    )
    assert "a<b>==1.0, pandas==2.2.0" in bundle["text/plain"]
    assert "<code>a&lt;b&gt;==1.0</code>, <code>pandas==2.2.0</code>" in bundle["text/html"]


def test_the_interpreter_reads_which_wheels_were_compiled(tmp_path: Path) -> None:
    """``Root-Is-Purelib: false`` in ``WHEEL`` marks a compiled distribution; true, a missing
    ``WHEEL`` (an sdist or egg install) or an unreadable value: not compiled."""
    from polymagic.app.interpreter import read_environment

    wheels = {
        "fast": "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n",
        "pure": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "odd": "Wheel-Version: 1.0\nroot-is-purelib :  FALSE \n",
        "plain": None,
    }
    for name, wheel in wheels.items():
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        if wheel is not None:
            (info / "WHEEL").write_text(wheel)
    found = read_environment(path=[str(tmp_path)])
    compiled = {d.name: d.compiled for d in found.distributions}
    assert compiled == {"fast": True, "pure": False, "odd": True, "plain": False}
