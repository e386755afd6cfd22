"""``freeze`` on hand-made environments: what is pinned, left out, or needs attention."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from polymagic.errors import ParamError
from polymagic.render.compiler import compile_operation
from polymagic.render.freeze import (
    Distribution,
    Environment,
    FreezeOptions,
    freeze,
    is_tooling,
)

PY = (3, 11, 7)


def dist(name: str, version: str = "1.0", *requires: str, **extra: Any) -> Distribution:
    extra.setdefault("top_level", (name.lower(),))
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
    dist("pyyaml", "6.0.1", top_level=("yaml",)),
]
USER = [
    dist(
        "pandas", "2.2.0", "numpy>=1.23", "python-dateutil>=2.8", "tzdata; python_version < '3.0'"
    ),
    dist("numpy", "1.26.4"),
    dist("python-dateutil", "2.9.0", "six>=1.5", top_level=("dateutil",)),
    dist("six", "1.16.0"),
    dist("tzdata", "2024.1"),
    dist("packaging", "24.0"),
]


def env(
    *extra: Distribution, used: set[str] | None = None, imported: set[str] | None = None
) -> Environment:
    return Environment(
        PY,
        (*TOOLING, *USER, *extra),
        imported=frozenset(imported or ()),
        used=frozenset(used or ()),
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
    requested = Distribution("pyyaml", "6.0.1", top_level=("yaml",), requested=True)
    tooling = [d for d in TOOLING if d.name != "pyyaml"]
    result = freeze(Environment(PY, (*tooling, *USER, requested)))
    assert "pyyaml==6.0.1" in lines(result.requirements)


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
    environment = env(used={"pandas"}, imported={"pandas", "tornado", "yaml"})
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
    used = freeze(env(used={"yaml"}, imported={"yaml"}), FreezeOptions(imported_only=True))
    assert lines(used.requirements) == ["pyyaml==6.0.1"]
    imported = freeze(env(imported={"yaml"}), FreezeOptions(imported_only=True))
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
         "installed from https://***@example.com/org/tool.git, whose URL holds credentials"),
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
        "COPY requirements.txt /code",
        "RUN pip install --no-cache-dir -r requirements.txt",
    ]


def test_base_and_requirements_path_options() -> None:
    result = freeze(env(), FreezeOptions(base="python:3.12", requirements="deps/prod.txt"))
    body = yaml.safe_load(result.operation)["runPatch"]["init"][0]["dockerfile"]
    assert body["image"] == "python:3.12"
    assert body["copy"] == ["deps/prod.txt"]
    assert body["run"] == ["pip install --no-cache-dir -r prod.txt"]


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
