"""Reading the user's code for what it imports, without running it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from polymagic.app.freeze_user_code import (
    SOURCE_LIMIT,
    imports_in_source,
    resolve_module,
    user_code,
)

SOURCE = """
import numpy as np, os.path
from pandas import DataFrame
from google.protobuf import message as m
from . import sibling
from .pkg import thing

def later():
    import requests
    from yaml import safe_load
    return importlib.import_module("scipy.stats"), __import__("lxml")

class Model:
    def fit(self):
        import sklearn.linear_model
"""


def test_every_import_counts_wherever_it_is() -> None:
    assert imports_in_source(SOURCE) == {
        "numpy", "os.path", "pandas", "pandas.DataFrame", "google.protobuf",
        "google.protobuf.message", "requests", "yaml", "yaml.safe_load", "scipy.stats", "lxml",
        "sklearn.linear_model",
    }  # fmt: skip


def test_unreadable_or_oversized_sources_give_nothing() -> None:
    assert imports_in_source("import numpy\ndef (:") == set()
    assert imports_in_source("import numpy\n" + "#" * SOURCE_LIMIT) == set()
    assert imports_in_source("x = " + "(" * 100_000 + ")" * 100_000) == set()


def test_cells_helpers_and_bound_modules_are_read(tmp_path: Path) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("import six\n")
    namespace = {"_ih": ["", "import attrs"], "j": json, "In": [], "dumps": json.dumps}
    code = user_code(namespace, [str(helper)])
    assert code.imports == {"attrs", "six", "json"}
    assert code.referenced == {"json"}


def test_a_dotted_name_is_resolved_by_its_files_without_importing_it() -> None:
    assert "json.tool" not in sys.modules
    origin = resolve_module("json.tool", sys.modules)
    assert origin is not None
    assert origin.name == "json.tool"
    assert origin.file is not None
    assert origin.file.endswith("json/tool.py")
    assert "json.tool" not in sys.modules


def test_a_distribution_vendored_inside_a_package_without_record_is_never_pinned(
    tmp_path: Path,
) -> None:
    """A system package's ``.egg-info`` lists no files: the copies it vendors (with their own
    ``.dist-info``, on the path once it is imported) are told by where they lie instead."""
    from polymagic.app.interpreter import read_environment
    from polymagic.render.freeze import freeze

    site = tmp_path / "site-packages"
    (site / "bundler-1.0.egg-info").mkdir(parents=True)
    (site / "bundler-1.0.egg-info" / "PKG-INFO").write_text("Name: bundler\nVersion: 1.0\n")
    (site / "bundler" / "_vendor" / "tomli").mkdir(parents=True)
    (site / "bundler" / "__init__.py").write_text("")
    vendored = site / "bundler" / "_vendor" / "tomli-2.0.1.dist-info"
    vendored.mkdir()
    (vendored / "METADATA").write_text("Name: tomli\nVersion: 2.0.1\n")
    (site / "plain-3.0.dist-info").mkdir()
    (site / "plain-3.0.dist-info" / "METADATA").write_text("Name: plain\nVersion: 3.0\n")
    env = read_environment(path=[str(site), str(site / "bundler" / "_vendor")])
    assert {dist.name: dist.vendored_by for dist in env.distributions} == {
        "bundler": None,
        "tomli": "bundler",
        "plain": None,
    }
    assert [line for line in freeze(env).requirements.splitlines() if "==" in line[:40]] == [
        "bundler==1.0",
        "plain==3.0",
    ]


def test_files_and_modules_run_with_percent_run_are_found() -> None:
    from polymagic.app.freeze_user_code import run_targets

    namespace = {
        "_ih": [
            "",
            "get_ipython().run_line_magic('run', 'helper.py')",
            "get_ipython().run_line_magic('run', '-i -t -N 3 \"my tools.py\" --flag value')",
            "get_ipython().run_line_magic('run', '-m pkg.tool arg')",
            "get_ipython().run_line_magic('time', 'x = 1')",
            "get_ipython().run_line_magic('run', '-e')",
            "get_ipython().run_line_magic('run', '\"unclosed')",
        ]
    }
    assert run_targets(namespace) == (["helper.py", "my tools.py"], ["pkg.tool"])
