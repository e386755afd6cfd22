"""Large values in the output: a 50 MB string took the pure-Python YAML writer about a minute.
The writer is now libyaml's; what it writes must read back as the same data."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from polymagic.render.compiler import compile_operation, compiled_component
from polymagic.render.manifests import build_manifests
from polymagic.spec.connections import ConnectionCatalog
from polymagic.spec.yamltext import dump_yaml, dump_yaml_all
from tests.data import REGISTRY, SEED
from tests.hostile.bounded import run_cli_bounded
from tests.hostile.test_spec_yaml import SEED as FLOW_SEED


def test_a_50_mb_string_renders_well_inside_the_bound() -> None:
    command = "echo " + "x" * 50_000_000
    text = FLOW_SEED.replace('run: ["pip3 install polyaxon"]', f'run: ["{command}"]')
    result = run_cli_bounded(["render", "-", "--only", "component"], stdin=text.encode())
    assert result.returncode == 0, result.explain()
    assert result.seconds < 5, result.explain()
    assert command in result.stdout
    assert len(result.stdout) > 50_000_000


def test_the_seed_renders_as_the_pure_python_writer_writes_it() -> None:
    class PythonDumper(yaml.SafeDumper):
        pass

    PythonDumper.add_representer(
        str,
        lambda d, v: d.represent_scalar(
            "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None
        ),
    )

    def python_dump(data: Any) -> str:
        return yaml.dump(
            data, Dumper=PythonDumper, sort_keys=False, default_flow_style=False, width=120
        )

    build = compile_operation(
        SEED, connections=ConnectionCatalog.model_validate({"connections": REGISTRY})
    )
    objects = build_manifests(build, namespace="ml").objects()
    assert dump_yaml(compiled_component(build)) == python_dump(compiled_component(build))
    assert dump_yaml_all(objects) == "---\n".join(python_dump(o) for o in objects)


_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(st.sampled_from("ab :#-\n\t'\"{}[],&*!|>%@`?\\ é\u2028\x85~0.e"), max_size=40),
    st.sampled_from(
        ["yes", "null", "~", "1e3", "0x1f", "2020-01-01", "- a", "a: b", "", " ", "a\n", "\n"]
    ),
)
_DATA = st.recursive(
    st.one_of(_TEXT, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_TEXT, st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_DATA)
def test_what_is_written_reads_back_the_same(data: Any) -> None:
    assert yaml.safe_load(dump_yaml(data)) == data
    assert list(yaml.safe_load_all(dump_yaml_all([data, {"k": data}]))) == [data, {"k": data}]
