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
