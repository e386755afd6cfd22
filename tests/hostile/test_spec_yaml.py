"""Hostile YAML for the spec readers: alias bombs, huge and deep documents, each read by a child
process bounded to 10 s and 1 GiB. Each ends with exit 2 and one line, or loads, well inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.bounded import Bounded, run_bounded, run_cli_bounded

CORPUS = Path(__file__).parent / "spec"

SEED = """\
version: 1.1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/polyaxon-quick-start}
runPatch:
  init:
  - dockerfile: {image: "tensorflow/tensorflow:2.0.1-py3", run: ["pip3 install polyaxon"]}
hubRef: kaniko
"""

# "Well inside" the 10 s bound, with room for a busy CI machine.
QUICK = 5.0


def refused(result: Bounded, *fragments: str) -> str:
    """The one error line of a child that refused its input quickly; checks ``fragments``."""
    assert not result.timed_out, result.explain()
    assert result.returncode == 2, result.explain()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.explain()
    assert lines[0].startswith("polymagic: error: "), result.explain()
    for fragment in fragments:
        assert fragment in lines[0], result.explain()
    assert result.seconds < QUICK, result.explain()
    return lines[0]


def with_labels(body: str) -> str:
    """The seed with ``body`` as the value of ``runPatch.environment.labels``."""
    return SEED.replace("runPatch:\n", f"runPatch:\n  environment:\n    labels: {body}\n")


def test_billion_laughs_operation_is_refused_at_once() -> None:
    line = refused(
        run_cli_bounded(["render", str(CORPUS / "billion-laughs.yaml")]),
        "billion-laughs.yaml, line ",
        "YAML_MAX_NODES",
    )
    assert "alias" in line


def test_billion_laughs_connections_catalog_is_refused_at_once() -> None:
    refused(
        run_cli_bounded(
            [
                "render",
                "notebooks/quick-start.yaml",
                "--connections",
                str(CORPUS / "laughs-catalog.yaml"),
            ]
        ),
        "laughs-catalog.yaml, line ",
        "YAML_MAX_NODES",
    )


def test_billion_laughs_on_stdin_is_refused_at_once() -> None:
    text = (CORPUS / "billion-laughs.yaml").read_bytes()
    refused(run_cli_bounded(["render", "-"], stdin=text), "YAML_MAX_NODES")


def test_billion_laughs_through_the_python_api_is_refused() -> None:
    code = (
        "import sys\n"
        "from polymagic.errors import SpecError\n"
        "from polymagic.spec.yaml_reader import parse_yaml\n"
        f"text = open({str(CORPUS / 'billion-laughs.yaml')!r}).read()\n"
        "try:\n"
        "    parse_yaml(text)\n"
        "except SpecError as exc:\n"
        "    sys.exit(f'refused: {exc}')\n"
    )
    result = run_bounded(code)
    assert not result.timed_out, result.explain()
    assert "refused: " in result.stderr, result.explain()
    assert "YAML_MAX_NODES" in result.stderr, result.explain()


def test_aliases_within_the_bound_still_load() -> None:
    # 9^5 = 59,049 expanded items: big, but under the bound; shared, so cheap to build.
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
        f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]"
        for prev, name in zip("abcd", "bcde", strict=True)
    ]
    body = "".join(f"\n      {level}" for level in levels)
    text = SEED.replace(
        "params:\n", f"params:\n  laughs:\n    contextOnly: true\n    value:{body}\n"
    )
    result = run_cli_bounded(["render", "-", "--only", "dockerfile"], stdin=text.encode())
    assert result.returncode == 0, result.explain()
    assert "RUN pip3 install polyaxon" in result.stdout
    assert result.seconds < QUICK, result.explain()


def _load_timed(text: str, report: str) -> tuple[Bounded, str, str]:
    """Load ``text`` in a bounded child: the result, the load's seconds and ``report``, an
    expression of ``loaded``, as printed there."""
    code = (
        "import sys, time\n"
        "from polymagic.spec.loader import load_operation\n"
        "text = sys.stdin.read()\n"
        "start = time.perf_counter()\n"
        "loaded = load_operation(text)\n"
        "print(time.perf_counter() - start)\n"
        f"print({report})\n"
    )
    result = run_bounded(code, stdin=text.encode())
    assert result.returncode == 0, result.explain()
    seconds, reported = result.stdout.split()
    return result, seconds, reported


def test_a_flow_mapping_with_40000_keys_loads_in_a_second_or_two() -> None:
    """Line numbers were found by counting the text's lines once per node: a minute here."""
    keys = ", ".join(f"key{i}: value{i}" for i in range(40_000))
    text = with_labels("{" + keys + "}")
    assert len(text) > 500_000
    result, seconds, line = _load_timed(
        text, "loaded.lines.line_of(('runPatch', 'environment', 'labels', 'key39999'))"
    )
    assert line == "8"  # the line of `labels:`, where the flow mapping starts
    assert float(seconds) < 3.0, result.explain()


def test_a_3_mb_document_loads_in_a_couple_of_seconds() -> None:
    labels = "".join(f"\n      label-{i:07d}: value-number-{i:07d}" for i in range(75_000))
    text = with_labels(labels)
    assert len(text) > 3_000_000
    result, seconds, count = _load_timed(text, "len(loaded.model.run_patch.environment.labels)")
    assert count == "75000"
    assert float(seconds) < 3.0, result.explain()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" + ",".join(["1"] * 300_000) + "]", id="flow-list"),
        pytest.param("".join(f"\n      - {i}" for i in range(300_000)), id="block-list"),
        pytest.param("[" + ",".join(["[1,2,3]"] * 80_000) + "]", id="nested-lists"),
    ],
)
def test_more_nodes_than_the_bound_are_refused(body: str) -> None:
    text = SEED.replace(
        "params:\n", f"params:\n  many:\n    contextOnly: true\n    value: {body}\n"
    )
    refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "YAML_MAX_NODES", "line ")


def test_a_document_just_under_the_node_bound_renders_inside_the_time_bound() -> None:
    # 248,000 nodes in a param value: parsed, validated, written as JSON for templates.
    body = "{" + ",".join(f"k{i}: v{i}" for i in range(124_000)) + "}"
    text = SEED.replace(
        "params:\n", f"params:\n  many:\n    contextOnly: true\n    value: {body}\n"
    )
    result = run_cli_bounded(["render", "-"], stdin=text.encode())
    assert result.returncode == 0, result.explain()
    assert "FROM tensorflow/tensorflow:2.0.1-py3" in result.stdout
    assert result.seconds < QUICK, result.explain()


def test_a_64_mib_document_of_tiny_nodes_is_refused_quickly() -> None:
    body = "[" + ",".join(["1"] * 30_000_000) + "]"  # 60 MB, 30 million nodes
    text = SEED.replace(
        "params:\n", f"params:\n  many:\n    contextOnly: true\n    value: {body}\n"
    )
    refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "YAML_MAX_NODES")


def test_more_than_64_mib_is_refused_without_parsing() -> None:
    text = SEED + "# " + "x" * (65 * 1024 * 1024) + "\n"
    refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "INPUT_MAX_BYTES")


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda d: "[" * d + "]" * d, id="flow"),
        pytest.param(lambda d: "".join(f"\n{'  ' * (i + 3)}k:" for i in range(d)), id="block"),
    ],
)
def test_deep_nesting_is_refused_with_its_line(shape: object) -> None:
    assert callable(shape)
    text = SEED.replace(
        "params:\n", f"params:\n  deep:\n    contextOnly: true\n    value: {shape(200)}\n"
    )
    refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "DOCUMENT_MAX_DEPTH", "line ")


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    text = SEED.replace(
        "params:\n", "params:\n  loop:\n    contextOnly: true\n    value: &me [1, *me]\n"
    )
    line = refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "line 7", "`*me`")
    assert "tree" in line


def test_a_tab_on_the_last_line_of_60_million_is_named_quickly() -> None:
    # Naming the tab reads the character where the parser stopped: not by walking the lines
    # before it (seconds more for these 60 million, on top of the parse).
    text = SEED + "\n" * 60_000_000 + "\tlast: 1\n"
    line = refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "a tab")
    assert "line 60000010" in line, line
